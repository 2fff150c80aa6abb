package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// revalidateEvery is how old a listing cache's tag digests may get before a
// listing re-checks them in the background.
const revalidateEvery = 10 * time.Minute

// writeOnceTag matches the tags gantry never moves: releases (v1.4.3) and
// snapshots (1.4.3-SNAPSHOT-3f2a9c1). Only their digests are cached; any other
// tag (latest, dev) is looked up on every listing.
var writeOnceTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-SNAPSHOT-[0-9a-f]{7,40})?$`)

// isWriteOnce is writeOnceTag.MatchString without the regexp machinery: a warm
// listing asks it of every tag.
func isWriteOnce(tag string) bool {
	t := strings.TrimPrefix(tag, "v")
	for part := range 3 {
		n := 0
		for n < len(t) && t[n] >= '0' && t[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		t = t[n:]
		if part < 2 {
			if t == "" || t[0] != '.' {
				return false
			}
			t = t[1:]
		}
	}
	if t == "" {
		return true
	}
	hex, ok := strings.CutPrefix(t, "-SNAPSHOT-")
	if !ok || len(hex) < 7 || len(hex) > 40 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// cachedDetail is one digest's listing details; they never change.
type cachedDetail struct {
	MediaType string
	Size      int64
	Created   time.Time
}

// cacheIndex is the on-disk listing cache of one repository.
type cacheIndex struct {
	// Tags maps write-once tags to their digest.
	Tags map[string]string
	// Digests holds each digest's details.
	Digests map[string]cachedDetail
	// Revalidated is when every cached tag digest was last checked against the registry.
	Revalidated time.Time
}

// listCache serves listings only: Resolve, Tag and every workflow step ask the
// registry. A nil *listCache caches nothing.
type listCache struct {
	path string
	logf func(string, ...any)

	mu sync.Mutex // serializes load-modify-save
	// revalidating is held while a background revalidation runs (tests wait on it).
	revalidating sync.WaitGroup
	started      bool // a background revalidation ran in this process
}

// newListCache returns the cache for host/repo under dir, or nil when dir is empty.
func newListCache(dir, repository string, logf func(string, ...any)) *listCache {
	if dir == "" {
		return nil
	}
	// host:port is a fine directory name on Unix, not on Windows.
	p := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(repository, ":", "_")), "index.json")
	return &listCache{path: p, logf: logf}
}

// cacheDir is where listing caches live for opts: CacheDir, else DataDir/cache/registry.
func (o Options) cacheDir() string {
	switch {
	case o.NoCache:
		return ""
	case o.CacheDir != "":
		return o.CacheDir
	case o.DataDir != "":
		return filepath.Join(o.DataDir, "cache", "registry")
	}
	return ""
}

// cacheMagic heads an index file; another first line means another format.
const cacheMagic = "gantry-registry-cache 1"

// load reads the index; a missing or unreadable one is empty (the cache is only a hint).
func (c *listCache) load() *cacheIndex {
	idx := &cacheIndex{Tags: map[string]string{}, Digests: map[string]cachedDetail{}}
	if c == nil {
		return idx
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.logf("registry cache: %v", err)
		}
		return idx
	}
	if err := parseIndex(string(b), idx); err != nil {
		c.logf("registry cache %s is damaged, ignoring it: %v", c.path, err)
		return &cacheIndex{Tags: map[string]string{}, Digests: map[string]cachedDetail{}}
	}
	return idx
}

// parseIndex reads the line format save writes: a text file of one record a
// line, several times faster to read than JSON (a warm listing is mostly this).
//
//	r <revalidated unix ns>
//	t <tag> <digest>
//	d <digest> <size> <created unix ns, 0 for none> <media type>
func parseIndex(s string, idx *cacheIndex) error {
	first, rest, _ := strings.Cut(s, "\n")
	if first != cacheMagic {
		return fmt.Errorf("unknown format %q", first)
	}
	for n := 2; rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "r":
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			idx.Revalidated = time.Unix(0, ns)
		case len(f) == 3 && f[0] == "t":
			idx.Tags[f[1]] = f[2]
		case (len(f) == 4 || len(f) == 5) && f[0] == "d":
			size, err1 := strconv.ParseInt(f[2], 10, 64)
			ns, err2 := strconv.ParseInt(f[3], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			det := cachedDetail{Size: size}
			if ns != 0 {
				det.Created = time.Unix(0, ns).UTC()
			}
			if len(f) == 5 {
				det.MediaType = f[4]
			}
			idx.Digests[f[1]] = det
		case line == "":
		default:
			return fmt.Errorf("line %d: %q", n, line)
		}
	}
	return nil
}

// update merges what a listing learned into the index on disk. tags maps a
// write-once tag to its digest ("" drops it); revalidated, when set, records a
// full check of the tag digests.
func (c *listCache) update(tags map[string]string, details map[string]cachedDetail, revalidated time.Time) {
	if c == nil || (len(tags) == 0 && len(details) == 0 && revalidated.IsZero()) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.load()
	for t, d := range tags {
		if d == "" {
			delete(idx.Tags, t)
		} else {
			idx.Tags[t] = d
		}
	}
	for d, det := range details {
		idx.Digests[d] = det
	}
	if !revalidated.IsZero() {
		idx.Revalidated = revalidated
	}
	if err := c.save(idx); err != nil {
		c.logf("registry cache: %v", err)
	}
}

func (c *listCache) save(idx *cacheIndex) error {
	var w strings.Builder
	w.WriteString(cacheMagic + "\n")
	if !idx.Revalidated.IsZero() {
		fmt.Fprintf(&w, "r %d\n", idx.Revalidated.UnixNano())
	}
	for t, d := range idx.Tags {
		if strings.ContainsAny(t+d, " \t\n") {
			continue // never in a valid tag or digest; keep the format parseable
		}
		w.WriteString("t " + t + " " + d + "\n")
	}
	for d, det := range idx.Digests {
		if strings.ContainsAny(d+det.MediaType, " \t\n") {
			continue
		}
		var ns int64
		if !det.Created.IsZero() {
			ns = det.Created.UnixNano()
		}
		fmt.Fprintf(&w, "d %s %d %d %s\n", d, det.Size, ns, det.MediaType)
	}
	b := []byte(w.String())
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	// Write and rename, so a reader never sees half an index.
	f, err := os.CreateTemp(filepath.Dir(c.path), ".index-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), c.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save %s: %w", c.path, err)
	}
	return nil
}
