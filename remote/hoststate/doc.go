// Package hoststate keeps gantry's state on a deploy host under ~/.gantry: the
// per-app, per-target leased deploy lock (Lock) and the audit log. It imports
// config (environment names) and remote/hostexec.
package hoststate
