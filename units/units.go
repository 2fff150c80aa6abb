// Package units formats sizes the same way everywhere gantry shows them: the CLI,
// the headless printers and the TUI. It imports no gantry package.
package units

import "fmt"

// Bytes formats a byte count in decimal units, as docker does: 512 B, 2.4 kB, 120.0 MB.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
