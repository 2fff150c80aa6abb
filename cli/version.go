package cli

import "runtime/debug"

// Commit is the commit gantry was built from, set at build time with Version.
var Commit = ""

// version is what `gantry --version` prints: the stamped release version, else the module
// version `go install …@vX.Y.Z` records, else "dev".
func version() string {
	v := Version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	if Commit != "" {
		short := Commit
		if len(short) > 7 {
			short = short[:7]
		}
		v += " (" + short + ")"
	}
	return v
}
