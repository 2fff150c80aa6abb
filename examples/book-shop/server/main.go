// Command server is the example book-shop's stand-in web server: a static binary
// that answers on :8000 with the version and commit it was built from, so a deploy
// can be checked with curl. The real app would be Django behind gunicorn.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
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
	log.Printf("book-shop %s (%s) listening on %s", version, commit, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
