package docker

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextDockerfileName is the name a Dockerfile from outside the context
// gets inside the tar, so it cannot clash with a context file.
const contextDockerfileName = ".gantry.Dockerfile"

// buildContext is a context directory ready to be streamed as a tar.
type buildContext struct {
	dir string
	// dockerfile is the Dockerfile's slash path inside the tar.
	dockerfile string
	// external is the host path of a Dockerfile that lies outside dir, or "".
	external string
	ignore   *patternmatcher.PatternMatcher
}

// newBuildContext resolves the Dockerfile and reads .dockerignore. dockerfile
// is relative to the context directory unless absolute; "" means "Dockerfile".
func newBuildContext(dir, dockerfile string) (*buildContext, error) {
	if dir == "" {
		return nil, errors.New("no context directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("context directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("context %s is not a directory", dir)
	}
	bc := &buildContext{dir: abs}

	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	dfPath := dockerfile
	if !filepath.IsAbs(dfPath) {
		dfPath = filepath.Join(abs, dfPath)
	}
	if fi, err := os.Stat(dfPath); err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("dockerfile %s is not a regular file", dockerfile)
	}
	rel, err := filepath.Rel(abs, dfPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		bc.external = dfPath
		bc.dockerfile = contextDockerfileName
	} else {
		bc.dockerfile = filepath.ToSlash(rel)
	}

	patterns, err := readDockerignore(abs)
	if err != nil {
		return nil, err
	}
	if len(patterns) > 0 {
		if bc.ignore, err = patternmatcher.New(patterns); err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	}
	return bc, nil
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return patterns, nil
}

// excluded reports whether rel (slash path) is left out of the context, and
// for a directory whether its whole subtree can be skipped.
func (bc *buildContext) excluded(rel string, isDir bool) (skip, skipTree bool, err error) {
	// The daemon needs these two whatever .dockerignore says.
	if rel == bc.dockerfile || rel == ".dockerignore" {
		return false, false, nil
	}
	if bc.ignore == nil {
		return false, false, nil
	}
	skip, err = bc.ignore.MatchesOrParentMatches(rel)
	if err != nil || !skip {
		return skip, false, err
	}
	if !isDir {
		return true, false, nil
	}
	// An exception (!dir/file) or the Dockerfile below rel keeps the walk going.
	prefix := rel + "/"
	if strings.HasPrefix(bc.dockerfile, prefix) {
		return true, false, nil
	}
	if bc.ignore.Exclusions() {
		for _, p := range bc.ignore.Patterns() {
			if p.Exclusion() && strings.HasPrefix(filepath.ToSlash(p.String())+"/", prefix) {
				return true, false, nil
			}
		}
	}
	return true, true, nil
}

// writeTar writes the context as an uncompressed tar. Owners are zeroed and
// access/change times dropped so that the daemon's cache keys depend on
// content and mode only, as with the docker CLI.
func (bc *buildContext) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(bc.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == bc.dir {
			return nil
		}
		rel, err := filepath.Rel(bc.dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, skipTree, err := bc.excluded(rel, d.IsDir())
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
		if skipTree {
			return filepath.SkipDir
		}
		if skip {
			return nil
		}
		return addFile(tw, path, rel)
	})
	if err != nil {
		return err
	}
	if bc.external != "" {
		if err := addFile(tw, bc.external, bc.dockerfile); err != nil {
			return err
		}
	}
	return tw.Close()
}

// addFile writes the file at path as name; sockets, pipes and devices are skipped.
func addFile(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	var link string
	switch mode := fi.Mode(); {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid = 0, 0
	hdr.Uname, hdr.Gname = "", ""
	hdr.ModTime = fi.ModTime().Truncate(time.Second)
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("context %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Copy exactly the header's size so a file growing meanwhile cannot break the tar.
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("context %s: %w", name, err)
	}
	return nil
}
