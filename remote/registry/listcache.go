package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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

// cachedDetail is one digest's listing details; they never change.
type cachedDetail struct {
	MediaType string    `json:"mt,omitempty"`
	Size      int64     `json:"size"`
	Created   time.Time `json:"created,omitzero"`
}

// cacheIndex is the on-disk listing cache of one repository.
type cacheIndex struct {
	// Tags maps write-once tags to their digest.
	Tags map[string]string `json:"tags"`
	// Digests holds each digest's details.
	Digests map[string]cachedDetail `json:"digests"`
	// Revalidated is when every cached tag digest was last checked against the registry.
	Revalidated time.Time `json:"revalidated,omitzero"`
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
	if err := json.Unmarshal(b, idx); err != nil {
		c.logf("registry cache %s is damaged, ignoring it: %v", c.path, err)
		return &cacheIndex{Tags: map[string]string{}, Digests: map[string]cachedDetail{}}
	}
	if idx.Tags == nil {
		idx.Tags = map[string]string{}
	}
	if idx.Digests == nil {
		idx.Digests = map[string]cachedDetail{}
	}
	return idx
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
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
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
