package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bookshop-ops/gantry/meta"
)

func newMetaCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "meta",
		Short: "Print the app's version, commit, short SHA and IMAGE_TAG",
		Long: `meta reads the version from pyproject.toml ([project].version, else [tool.poetry].version)
and HEAD from git, and prints what a dev build would be tagged: IMAGE_TAG = <version>-SNAPSHOT-<sha7>.`,
		Example: "  gantry meta\n  gantry meta --json --dir examples/book-shop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			m, err := meta.Read(cmd.Context(), cfg.Dir)
			if err != nil {
				return badInput(err)
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			fmt.Fprintf(g.stdout, "version    %s  (%s)\ncommit     %s\nshort_sha  %s\nimage_tag  %s\n", m.Version, m.Source, m.Commit, m.ShortSHA, m.ImageTag)
			if m.Dirty {
				fmt.Fprintf(g.stdout, "dirty      %d uncommitted change(s) in the app folder\n", len(m.Changes))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
