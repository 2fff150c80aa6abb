// Command probe is a static helper baked into FROM-scratch test images,
// which have no shell: RUN and HEALTHCHECK steps call it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe write PATH ENVVAR | sleep SECONDS | true")
	}
	switch os.Args[1] {
	case "write": // write the value of an environment variable to a file
		if len(os.Args) != 4 {
			fail("usage: probe write PATH ENVVAR")
		}
		if err := os.MkdirAll(filepath.Dir(os.Args[2]), 0o755); err != nil {
			fail(err.Error())
		}
		if err := os.WriteFile(os.Args[2], []byte(os.Getenv(os.Args[3])), 0o644); err != nil {
			fail(err.Error())
		}
	case "sleep":
		s, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		time.Sleep(time.Duration(s) * time.Second)
	case "true":
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(2)
}
