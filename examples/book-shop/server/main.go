// Command server is the example book-shop's stand-in web server: a static binary
// that answers on :8000 with the version and commit it was built from, so a deploy
// can be checked with curl. The real app would be Django behind gunicorn.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// version and commit come from the image's environment, which the Dockerfile sets
// from the VERSION and COMMIT build arguments gantry passes.
var (
	version = envOr("APP_VERSION", "dev")
	commit  = envOr("APP_COMMIT", "unknown")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "install-deps" {
		if len(os.Args) != 5 {
			log.Fatal("usage: book-shop install-deps PYPROJECT CACHE DEST")
		}
		if err := installDeps(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			log.Fatal(err)
		}
		return
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("BOOKSHOP_BROKEN") != "" {
			http.Error(w, "broken on purpose", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"app": "book-shop", "version": version, "commit": commit, "uptime": time.Since(started).Round(time.Second).String()})
			return
		}
		fmt.Fprintf(w, "book-shop %s (commit %s)\n", version, commit)
	})
	addr := ":8000"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	// BOOKSHOP_START_DELAY ("3s") stands in for an app that takes a while to boot
	// (migrations, warm-up) before it listens: the deploy benchmarks use it.
	if d, err := time.ParseDuration(os.Getenv("BOOKSHOP_START_DELAY")); err == nil && d > 0 {
		log.Printf("waiting %s before listening (BOOKSHOP_START_DELAY)", d)
		time.Sleep(d)
	}
	log.Printf("book-shop %s (%s) listening on %s", version, commit, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

var (
	depsList = regexp.MustCompile(`(?s)dependencies\s*=\s*\[(.*?)\]`)
	quoted   = regexp.MustCompile(`"([^"]*)"`)
)

// installDeps is the stand-in for `pip install` in the image build (no network):
// it "resolves" the project file into DEST, keeping what it made in CACHE (a
// BuildKit cache mount, like /root/.cache/pip) so that a rebuild reuses it.
func installDeps(pyproject, cache, dest string) error {
	data, err := os.ReadFile(pyproject)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	key := filepath.Join(cache, "wheels-"+hex.EncodeToString(sum[:8]))
	wheels, err := os.ReadFile(key)
	if err == nil {
		fmt.Printf("using cached wheels %s\n", filepath.Base(key))
	} else {
		fmt.Printf("building wheels for %s\n", filepath.Base(pyproject))
		var b bytes.Buffer
		if m := depsList.FindSubmatch(data); m != nil {
			for _, q := range quoted.FindAllSubmatch(m[1], -1) {
				b.Write(q[1])
				b.WriteByte('\n')
			}
		}
		wheels = b.Bytes()
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(key, wheels, 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dest, "installed.txt"), wheels, 0o644)
}
