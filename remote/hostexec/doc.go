// Package hostexec is how gantry runs commands on a host: the Runner interface
// (implemented by sshhost and localhost), the quoted command builders (Command, And,
// Or, Seq, Pipe, Group, Env) every remote shell line is made with, and ExitError.
// It imports no gantry package.
package hostexec
