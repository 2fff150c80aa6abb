package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// motoAWS points the AWS SDK at moto with its static credentials and nothing from the machine.
func motoAWS(t testing.TB) *ecr.Client {
	t.Helper()
	ep := testbed.ECREndpoint(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": testbed.MotoAccessKey, "AWS_SECRET_ACCESS_KEY": testbed.MotoSecretKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": testbed.MotoRegion,
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(testbed.MotoRegion))
	if err != nil {
		t.Fatal(err)
	}
	return ecr.NewFromConfig(ac, func(o *ecr.Options) { o.BaseEndpoint = aws.String(ep) })
}

func createECRRepo(t testing.TB, c *ecr.Client, repo string, immutable bool) {
	t.Helper()
	mut := ecrtypes.ImageTagMutabilityMutable
	if immutable {
		mut = ecrtypes.ImageTagMutabilityImmutable
	}
	if _, err := c.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo), ImageTagMutability: mut}); err != nil {
		t.Fatalf("create repository %s: %v", repo, err)
	}
	t.Cleanup(func() {
		c.DeleteRepository(context.Background(), &ecr.DeleteRepositoryInput{RepositoryName: aws.String(repo), Force: true})
	})
}

// labelledImage is a random image whose config carries labels.
func labelledImage(t testing.TB, size int64, layers int64, labels map[string]string) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// putECRImage stores img's manifest under tag in moto, as `docker push` to ECR would,
// and the image itself in the test registry that registry.host names (moto serves no
// V2 API, so labels are read there).
func putECRImage(t testing.TB, c *ecr.Client, regHost, repo, tag string, img v1.Image) string {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	d, _ := img.Digest()
	if _, err := c.PutImage(context.Background(), &ecr.PutImageInput{
		RepositoryName: aws.String(repo), ImageTag: aws.String(tag), ImageManifest: aws.String(string(raw)),
		ImageManifestMediaType: aws.String(string(mt)), ImageDigest: aws.String(d.String()),
	}); err != nil {
		t.Fatalf("put %s:%s: %v", repo, tag, err)
	}
	if regHost != "" {
		ref, err := name.ParseReference(regHost + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	return d.String()
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
			createECRRepo(t, c, repo, immutable)
			snapTag := meta.SnapshotTag("1.0.0", head)
			digest := putECRImage(t, c, regHost, repo, snapTag, labelledImage(t, 4096, 2, map[string]string{RevisionLabel: head}))
			reg, err := registry.New(ctx, config.Registry{Kind: config.KindECR, Region: testbed.MotoRegion, Repository: repo, Endpoint: testbed.ECREndpoint(t), Host: regHost}, registry.Options{})
			if err != nil {
				t.Fatal(err)
			}
			opts := PromoteOptions{
				Registry: func(context.Context) (PromoteRegistry, error) { return reg, nil },
				Repo:     func(ctx context.Context) (GitHistory, error) { return git.Open(ctx, h.dir) },
				Prod:     ProdTarget{PinDigest: true}, TagFormat: "{version}",
			}
			run := func() (*recorder, map[string]string, error) {
				p := &Promotion{Meta: meta.Meta{Version: "1.0.0", Commit: head, ShortSHA: head[:7]}}
				rec := &recorder{}
				sum, err := Run(ctx, "promote", []Step{FindSnapshotStep(opts, p), PromoteTagStep(opts, p)}, rec)
				return rec, sum, err
			}
			rec, sum, err := run()
			if err != nil {
				t.Fatalf("%v\n%s", err, logText(rec))
			}
			if statuses(rec) != "find snapshot=succeeded promote=succeeded" || sum["digest"] != digest || sum["image"] != regHost+"/"+repo+":v1.0.0@"+digest {
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
			other := putECRImage(t, c, "", repo, "1.0.0-SNAPSHOT-"+strings.Repeat("f", 7), labelledImage(t, 1024, 1, nil))
			c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v1.0.0")}}})
			if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("v1.0.0"),
				ImageManifest: aws.String(manifestOf(t, c, repo, other))}); err != nil {
				t.Fatalf("move v1.0.0 by hand: %v", err)
			}
			rec, _, err = run()
			var moved *registry.TagMovedError
			if !errors.As(err, &moved) || moved.Existing != other || statuses(rec) != "find snapshot=succeeded promote=failed" {
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
