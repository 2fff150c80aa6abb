package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// MotoEnv points the AWS SDK's default chain at moto's static credentials for the
// test, with nothing read from the machine's AWS config, profile or instance metadata.
func MotoEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": MotoAccessKey, "AWS_SECRET_ACCESS_KEY": MotoSecretKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_REGION": MotoRegion,
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// MotoECR is an ECR client for moto with its static credentials, whatever the
// environment holds: for tests that fill ECR the way a CI job's push would.
func MotoECR(t testing.TB) *ecr.Client {
	return ecr.New(ecr.Options{
		Region:       MotoRegion,
		BaseEndpoint: aws.String(ECREndpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider(MotoAccessKey, MotoSecretKey, ""),
	})
}

// CreateECRRepo creates repo in moto, removed again when the test ends.
func CreateECRRepo(t testing.TB, c *ecr.Client, repo string, immutable bool) {
	t.Helper()
	mut := ecrtypes.ImageTagMutabilityMutable
	if immutable {
		mut = ecrtypes.ImageTagMutabilityImmutable
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo), ImageTagMutability: mut})
	// The SDK retries a call that timed out; the retry of a create that went through
	// finds the repository there already, which is what the test asked for.
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		t.Fatalf("create ECR repository %s in moto: %v", repo, err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteRepository(context.Background(), &ecr.DeleteRepositoryInput{RepositoryName: aws.String(repo), Force: true})
	})
}

// PutECRManifest stores manifest under repo:tag in moto, as a push to ECR would, and
// returns its digest. moto keeps manifests without their blobs.
func PutECRManifest(t testing.TB, c *ecr.Client, repo, tag string, manifest []byte, mediaType string) string {
	t.Helper()
	sum := sha256.Sum256(manifest)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.PutImage(ctx, &ecr.PutImageInput{
		RepositoryName: aws.String(repo), ImageTag: aws.String(tag), ImageManifest: aws.String(string(manifest)),
		ImageManifestMediaType: aws.String(mediaType), ImageDigest: aws.String(digest),
	})
	var exists *ecrtypes.ImageAlreadyExistsException
	if errors.As(err, &exists) {
		// A retried put that went through the first time: success, if the tag holds
		// exactly this manifest (another image under the tag is a real conflict).
		got, derr := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}}})
		if derr == nil && len(got.ImageDetails) == 1 && aws.ToString(got.ImageDetails[0].ImageDigest) == digest {
			return digest
		}
		t.Fatalf("put %s:%s in moto: the tag holds another image (%v)", repo, tag, err)
	}
	if err != nil {
		t.Fatalf("put %s:%s in moto: %v", repo, tag, err)
	}
	return digest
}

// PutECRImage stores img's manifest under repo:tag in moto; it returns the digest
// and the manifest bytes.
func PutECRImage(t testing.TB, c *ecr.Client, repo, tag string, img v1.Image) (string, []byte) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return PutECRManifest(t, c, repo, tag, raw, string(mt)), raw
}

// RandomImage is a random image of layers layers of size bytes each, whose config
// carries labels and, unless created is zero, that creation time.
func RandomImage(t testing.TB, size, layers int64, labels map[string]string, created time.Time) v1.Image {
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
	if !created.IsZero() {
		cf.Created = v1.Time{Time: created}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}
