package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// motoAWS points the AWS SDK's default chain (which gantry's registry client uses)
// at moto, and returns a client of its own for filling ECR.
func motoAWS(t testing.TB) *ecr.Client {
	t.Helper()
	testbed.MotoEnv(t)
	return testbed.MotoECR(t)
}

// putECRImage stores img's manifest under tag in moto, as `docker push` to ECR would,
// and the image itself in the test registry that registry.host names (moto serves no
// V2 API, so labels are read there).
func putECRImage(t testing.TB, c *ecr.Client, regHost, repo, tag string, img v1.Image) string {
	t.Helper()
	d, _ := testbed.PutECRImage(t, c, repo, tag, img)
	if regHost != "" {
		ref, err := name.ParseReference(regHost + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	return d
}

func TestPromoteECROnMoto(t *testing.T) {
	c := motoAWS(t)
	regHost := testbed.Registry(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	h := newHistRepo(t)
	head := h.commit("initial", map[string]string{"pyproject.toml": "[project]\nversion = \"1.0.0\"\n"})
	ctx := context.Background()

	for _, immutable := range []bool{false, true} {
		kind := map[bool]string{false: "mutable", true: "immutable"}[immutable]
		t.Run(kind, func(t *testing.T) {
			repo := uniq("gantry/ecr-" + kind)
			testbed.CreateECRRepo(t, c, repo, immutable)
			snapTag := meta.SnapshotTag("1.0.0", head)
			digest := putECRImage(t, c, regHost, repo, snapTag, testbed.RandomImage(t, 4096, 2, map[string]string{RevisionLabel: head}, time.Time{}))
			reg, err := registry.New(ctx, config.Registry{Kind: config.KindECR, Region: testbed.MotoRegion, Repository: repo, Endpoint: testbed.ECREndpoint(t), Host: regHost}, registry.Options{})
			if err != nil {
				t.Fatal(err)
			}
			opts := PromoteOptions{
				Registry: func(context.Context) (PromoteRegistry, error) { return reg, nil },
				Repo:     func(ctx context.Context) (GitHistory, error) { return git.Open(ctx, h.dir) },
				Prod:     ProdTarget{PinDigest: true}, TagFormat: "{version}",
			}
			var p *Promotion
			run := func() (*pipelinetest.Recorder, map[string]string, error) {
				p = &Promotion{Meta: meta.Meta{Version: "1.0.0", Commit: head, ShortSHA: head[:7]}}
				rec := &pipelinetest.Recorder{}
				sum, err := pipeline.Run(ctx, "promote", []pipeline.Step{FindSnapshotStep(opts, p), PromoteTagStep(opts, p)}, rec)
				return rec, sum, err
			}
			rec, sum, err := run()
			if err != nil {
				t.Fatalf("%v\n%s", err, logText(rec))
			}
			if statuses(rec) != "find snapshot=succeeded promote=succeeded" || sum["digest"] != digest || p.Image != regHost+"/"+repo+":v1.0.0@"+digest {
				t.Fatalf("%s %v", statuses(rec), sum)
			}
			if !strings.Contains(logText(rec), "bytes moved (the manifest, no layer)") || !strings.Contains(logText(rec), "both tags resolve to "+digest) {
				t.Errorf("log:\n%s", logText(rec))
			}
			// Already promoted: skipped, nothing written.
			rec, _, err = run()
			if err != nil || statuses(rec) != "find snapshot=succeeded promote=skipped" {
				t.Fatalf("re-run: %v %s", err, statuses(rec))
			}
			// v1.0.0 on another digest: a release tag never moves.
			other := putECRImage(t, c, "", repo, "1.0.0-SNAPSHOT-"+strings.Repeat("f", 7), testbed.RandomImage(t, 1024, 1, nil, time.Time{}))
			c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1.0.0")}}})
			if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("v1.0.0"),
				ImageManifest: aws.String(manifestOf(t, c, repo, other))}); err != nil {
				t.Fatalf("move v1.0.0 by hand: %v", err)
			}
			rec, _, err = run()
			// Refused in the plan: the tag step never runs.
			if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), other) || statuses(rec) != "find snapshot=succeeded promote=failed" {
				t.Fatalf("clash: %v %s", err, statuses(rec))
			}
			if d, _ := reg.Resolve(ctx, "v1.0.0"); d != other {
				t.Fatalf("v1.0.0 moved to %s", d)
			}
		})
	}
}

// manifestOf reads an image's manifest back from moto.
func manifestOf(t testing.TB, c *ecr.Client, repo, digest string) string {
	t.Helper()
	out, err := c.BatchGetImage(context.Background(), &ecr.BatchGetImageInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(digest)}}})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("get %s: %v", digest, err)
	}
	return aws.ToString(out.Images[0].ImageManifest)
}
