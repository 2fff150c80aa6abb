// Command probe is a static helper baked into FROM-scratch test images,
// which have no shell: RUN and HEALTHCHECK steps call it.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe write PATH ENVVAR | sleep SECONDS | true | sh -c SCRIPT | copy SRC DST | count FILE OUT | sha FILE OUT | echo WORDS | fail MSG")
	}
	run(os.Args[1:])
}

// run carries out one probe command; args[0] is its name.
func run(args []string) {
	os.Args = append([]string{"probe"}, args...)
	switch os.Args[1] {
	case "sh": // SHELL ["/probe", "sh"]: each script line is a probe command
		script := os.Args[len(os.Args)-1] // "sh -c SCRIPT", or "sh SCRIPT" for a heredoc
		for _, line := range strings.Split(script, "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				run(f)
			}
		}
	case "copy": // copy a file
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		if err := os.MkdirAll(filepath.Dir(os.Args[3]), 0o755); err != nil {
			fail(err.Error())
		}
		if err := os.WriteFile(os.Args[3], data, 0o644); err != nil {
			fail(err.Error())
		}
	case "count": // increment the counter in FILE (a cache mount) and copy it to OUT
		n := 0
		if data, err := os.ReadFile(os.Args[2]); err == nil {
			n, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
		n++
		for _, p := range os.Args[2:4] {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				fail(err.Error())
			}
			if err := os.WriteFile(p, []byte(strconv.Itoa(n)), 0o644); err != nil {
				fail(err.Error())
			}
		}
	case "sha": // write the sha256 of FILE to OUT (a secret's fingerprint, never its value)
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		sum := sha256.Sum256(data)
		if err := os.MkdirAll(filepath.Dir(os.Args[3]), 0o755); err != nil {
			fail(err.Error())
		}
		if err := os.WriteFile(os.Args[3], []byte(hex.EncodeToString(sum[:])), 0o644); err != nil {
			fail(err.Error())
		}
	case "echo":
		fmt.Println(strings.Join(os.Args[2:], " "))
	case "fail":
		fmt.Println(strings.Join(os.Args[2:], " "))
		os.Exit(1)
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
