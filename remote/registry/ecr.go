package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/bookshop-ops/gantry/config"
	"github.com/google/go-containerregistry/pkg/authn"
)

// manifestMediaTypes are the manifest kinds gantry asks ECR for, so BatchGetImage
// returns the stored bytes instead of converting them.
var manifestMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// awsFix tells the user how to provide AWS credentials.
const awsFix = "set AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), run `aws configure`, or in GitHub Actions use aws-actions/configure-aws-credentials"

// ecrRegistry is a private Amazon ECR repository.
type ecrRegistry struct {
	cfg    config.Registry
	client *ecr.Client
	opts   Options
	creds  aws.CredentialsProvider
	login  loginCache

	mu   sync.Mutex
	host string
}

// sdkLogger routes AWS SDK warnings to Options.Logf instead of stderr.
type sdkLogger struct{ opts Options }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	l.opts.logf("aws "+strings.ToLower(string(c))+": "+format, v...)
}

func loadAWS(ctx context.Context, region string, opts Options) (aws.Config, error) {
	lo := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithLogger(sdkLogger{opts}),
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w; check AWS_PROFILE and ~/.aws/config", err)
	}
	return c, nil
}

func newECR(ctx context.Context, cfg config.Registry, opts Options) (*ecrRegistry, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("registry: kind ecr needs registry.region, e.g. region = \"eu-west-1\"")
	}
	ac, err := loadAWS(ctx, cfg.Region, opts)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r := &ecrRegistry{cfg: cfg, opts: opts, creds: ac.Credentials}
	r.client = ecr.NewFromConfig(ac, func(o *ecr.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if opts.HTTPClient != nil {
			// Set here rather than in LoadDefaultConfig, which refuses a plain
			// *http.Client when AWS_CA_BUNDLE is set.
			o.HTTPClient = opts.HTTPClient
		}
	})
	switch {
	case cfg.Host != "":
		r.host = cfg.Host
	case cfg.AccountID != "":
		r.host = ecrHost(cfg.AccountID, cfg.Region)
	default:
		// The caller's account is only known to AWS: ask now so Host and Repository
		// are ready; without credentials they fill in on the first Login or Check.
		if _, err := r.Login(ctx); err != nil {
			opts.logf("registry: ECR host unknown until login succeeds: %v", err)
		}
	}
	return r, nil
}

// ecrHost is the registry host of a private ECR account in a region.
func ecrHost(account, region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return fmt.Sprintf("%s.dkr.ecr.%s.%s", account, region, suffix)
}

func (r *ecrRegistry) Kind() config.RegistryKind { return config.KindECR }

// Host is the registry host; for ecr with neither registry.host nor
// registry.account_id set it is empty until a Login succeeds.
func (r *ecrRegistry) Host() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.host
}

// Repository is host/repo, or empty while the host is unknown (see Host).
func (r *ecrRegistry) Repository() string {
	h := r.Host()
	if h == "" {
		return ""
	}
	return h + "/" + r.cfg.Repository
}

func (r *ecrRegistry) registryID() *string {
	if r.cfg.AccountID == "" {
		return nil
	}
	return aws.String(r.cfg.AccountID)
}

func (r *ecrRegistry) Login(ctx context.Context) (Credentials, error) {
	return r.login.get(ctx, r.fetchToken)
}

func (r *ecrRegistry) fetchToken(ctx context.Context) (Credentials, error) {
	if err := haveCredentials(ctx, r.creds, "log in to ECR"); err != nil {
		return Credentials{}, err
	}
	in := &ecr.GetAuthorizationTokenInput{}
	if r.cfg.AccountID != "" {
		in.RegistryIds = []string{r.cfg.AccountID}
	}
	out, err := r.client.GetAuthorizationToken(ctx, in)
	if err != nil {
		return Credentials{}, r.awsError("log in to ECR (ecr:GetAuthorizationToken)", err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return Credentials{}, errors.New("log in to ECR: the response holds no authorization token")
	}
	ad := out.AuthorizationData[0]
	user, pw, err := decodeAWSToken(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		return Credentials{}, fmt.Errorf("log in to ECR: %w", err)
	}
	r.mu.Lock()
	if r.cfg.Host == "" && ad.ProxyEndpoint != nil {
		r.host = trimScheme(*ad.ProxyEndpoint)
	}
	host := r.host
	r.mu.Unlock()
	return Credentials{Host: host, Username: user, Password: pw, ExpiresAt: aws.ToTime(ad.ExpiresAt)}, nil
}

// awsError explains an AWS API failure with what to fix.
func (r *ecrRegistry) awsError(op string, err error) error {
	return awsError(op, err, r.cfg.Endpoint, r.cfg.Repository, r.cfg.Region, "ecr")
}

// haveCredentials fails with what to fix when the AWS credential chain finds nothing.
func haveCredentials(ctx context.Context, p aws.CredentialsProvider, op string) error {
	if p == nil {
		return withKind(ErrNoCredentials, fmt.Errorf("%s: no AWS credentials found; %s", op, awsFix))
	}
	if _, err := p.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		return withKind(ErrNoCredentials, fmt.Errorf("%s: no AWS credentials found (%v); %s", op, err, awsFix))
	}
	return nil
}

func awsError(op string, err error, endpoint, repo, region, cli string) error {
	var se *v4.SigningError
	if errors.As(err, &se) || strings.Contains(err.Error(), "get identity: get credentials:") {
		return withKind(ErrNoCredentials, fmt.Errorf("%s: no AWS credentials found; %s", op, awsFix))
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
			"InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationTokenException":
			return withKind(ErrUnauthorized, fmt.Errorf("%s: AWS rejected the credentials (%s); %s", op, ae.ErrorCode(), awsFix))
		case "AccessDeniedException":
			return withKind(ErrUnauthorized, fmt.Errorf("%s: access denied; give this AWS identity the %s permissions gantry needs (ecr:GetAuthorizationToken, DescribeRepositories, DescribeImages, BatchGetImage, PutImage and the push actions): %w", op, cli, err))
		case "RepositoryNotFoundException":
			return fmt.Errorf("%s: %w: %s does not exist in %s; create it with `aws %s create-repository --repository-name %s --region %s`", op, ErrRepositoryNotFound, repo, region, cli, repo, region)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var oe *net.OpError
	var dnse *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &dnse) {
		where := "the AWS API"
		if endpoint != "" {
			where = endpoint + " (registry.endpoint)"
		}
		return fmt.Errorf("%s: cannot reach %s: %w", op, where, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ecrPageSize is DescribeImages' largest page (its default is 100).
const ecrPageSize = 1000

// List reads every page of DescribeImages (1,000 images each) and then streams
// the images newest push first across all of them: ECR returns images in no
// useful order, so "newest" is only right once every page is in.
func (r *ecrRegistry) List(ctx context.Context, fn func([]Image) error) error {
	p := ecr.NewDescribeImagesPaginator(r.client, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(r.cfg.Repository),
		RegistryId:     r.registryID(),
		Filter:         &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged},
		MaxResults:     aws.Int32(ecrPageSize),
	})
	var all []Image
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return r.awsError("list images of "+r.cfg.Repository, err)
		}
		for _, d := range out.ImageDetails {
			all = appendImages(all, d.ImageTags, aws.ToString(d.ImageDigest), aws.ToString(d.ImageManifestMediaType), aws.ToTime(d.ImagePushedAt), aws.ToInt64(d.ImageSizeInBytes))
		}
	}
	return emitSorted(all, fn)
}

// emitSorted sorts images newest first and hands them to fn in pages of listPageSize.
func emitSorted(all []Image, fn func([]Image) error) error {
	sortNewestFirst(all)
	for start := 0; start < len(all); start += listPageSize {
		end := min(start+listPageSize, len(all))
		if err := fn(all[start:end:end]); err != nil {
			return err
		}
	}
	return nil
}

// imagesOf makes one Image per tag of a described image; untagged images give none.
func imagesOf(tags []string, digest, mediaType string, pushed time.Time, size int64) []Image {
	return appendImages(nil, tags, digest, mediaType, pushed, size)
}

// appendImages appends one Image per tag of a described image. They share tags
// (which the caller gives up): one slice per digest, not one per tag.
func appendImages(out []Image, tags []string, digest, mediaType string, pushed time.Time, size int64) []Image {
	tags = slices.Clip(tags)
	for _, t := range tags {
		out = append(out, Image{Tag: t, Tags: tags, Digest: digest, MediaType: mediaType, PushedAt: pushed, Size: size})
	}
	return out
}

func (r *ecrRegistry) Resolve(ctx context.Context, tag string) (string, error) {
	if err := ValidTag(tag); err != nil {
		return "", err
	}
	out, err := r.client.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(r.cfg.Repository),
		RegistryId:     r.registryID(),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(tag)}},
	})
	var nf *ecrtypes.ImageNotFoundException
	if errors.As(err, &nf) || (err == nil && len(out.ImageDetails) == 0) {
		return "", fmt.Errorf("resolve %s in %s: %w", tag, r.cfg.Repository, ErrNotFound)
	}
	if err != nil {
		return "", r.awsError("resolve "+tag, err)
	}
	return aws.ToString(out.ImageDetails[0].ImageDigest), nil
}

// v2 is a registry V2 client for Host() authenticated with the ECR token.
func (r *ecrRegistry) v2(ctx context.Context) (*v2Client, error) {
	if r.Host() == "" {
		if _, err := r.Login(ctx); err != nil {
			return nil, err
		}
	}
	return &v2Client{
		repository: r.Repository(),
		insecure:   r.cfg.Insecure,
		transport:  r.opts.transport(),
		loginFix:   awsFix,
		auth: func(ctx context.Context) (authn.Authenticator, error) {
			c, err := r.Login(ctx)
			if err != nil {
				return nil, err
			}
			return &authn.Basic{Username: c.Username, Password: c.Password}, nil
		},
	}, nil
}

func (r *ecrRegistry) Labels(ctx context.Context, tag string) (map[string]string, error) {
	c, err := r.v2(ctx)
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", tag, err)
	}
	return c.labels(ctx, tag)
}

func (r *ecrRegistry) Tag(ctx context.Context, srcTag, newTag string) (TagResult, error) {
	if err := ValidTag(srcTag); err != nil {
		return TagResult{}, err
	}
	if err := ValidTag(newTag); err != nil {
		return TagResult{}, err
	}
	// One call reads the source and looks for the new tag; the tag is absent when ECR
	// reports it not found, which is the usual case and costs no extra round trip.
	out, err := r.client.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName:     aws.String(r.cfg.Repository),
		RegistryId:         r.registryID(),
		ImageIds:           []ecrtypes.ImageIdentifier{{ImageTag: aws.String(srcTag)}, {ImageTag: aws.String(newTag)}},
		AcceptedMediaTypes: manifestMediaTypes,
	})
	if err != nil {
		return TagResult{}, r.awsError(fmt.Sprintf("tag %s as %s: read %s", srcTag, newTag, srcTag), err)
	}
	var srcFail *ecrtypes.ImageFailure
	newAbsent := false
	for i, f := range out.Failures {
		switch aws.ToString(f.ImageId.ImageTag) {
		case srcTag:
			srcFail = &out.Failures[i]
		case newTag:
			newAbsent = f.FailureCode == ecrtypes.ImageFailureCodeImageNotFound || f.FailureCode == ecrtypes.ImageFailureCodeImageTagDoesNotMatchDigest
		}
	}
	if srcFail != nil || len(out.Images) == 0 {
		why := "no image"
		if f := srcFail; f != nil {
			why = string(f.FailureCode) + ": " + aws.ToString(f.FailureReason)
			if f.FailureCode != ecrtypes.ImageFailureCodeImageNotFound && f.FailureCode != ecrtypes.ImageFailureCodeImageTagDoesNotMatchDigest {
				return TagResult{}, fmt.Errorf("tag %s as %s: read %s: %s", srcTag, newTag, srcTag, why)
			}
		}
		return TagResult{}, fmt.Errorf("tag %s as %s: source %s (%s): %w", srcTag, newTag, srcTag, why, ErrNotFound)
	}
	img := out.Images[0]
	if !newAbsent && len(out.Images) > 1 {
		// Both tags exist. ECR need not say which entry answers which tag: take the
		// source's by its digest.
		d, err := r.Resolve(ctx, srcTag)
		if err != nil {
			return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
		}
		for _, im := range out.Images {
			if im.ImageId != nil && aws.ToString(im.ImageId.ImageDigest) == d {
				img = im
			}
		}
	}
	manifest := aws.ToString(img.ImageManifest)
	digest := ""
	if img.ImageId != nil {
		digest = aws.ToString(img.ImageId.ImageDigest)
	}
	mediaType := aws.ToString(img.ImageManifestMediaType)
	if mediaType == "" {
		var m struct {
			MediaType string `json:"mediaType"`
		}
		_ = json.Unmarshal([]byte(manifest), &m)
		mediaType = m.MediaType
	}
	// In a MUTABLE repository PutImage would silently move newTag: unless ECR said it
	// is absent, check where it points first.
	if !newAbsent {
		if done, err := r.existing(ctx, newTag, digest); done || err != nil {
			return TagResult{Digest: digest, AlreadyDone: done}, err
		}
	}
	return r.put(ctx, newTag, manifest, mediaType, digest, newAbsent)
}

// existing is true when newTag is already on digest, a *TagMovedError when it is on
// another one, false when it does not exist.
func (r *ecrRegistry) existing(ctx context.Context, newTag, digest string) (bool, error) {
	have, err := r.Resolve(ctx, newTag)
	switch {
	case err == nil && have == digest:
		return true, nil
	case err == nil:
		return false, &TagMovedError{Tag: newTag, Existing: have, Wanted: digest}
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("check tag %s: %w", newTag, err)
	}
}

// put uploads the manifest bytes unchanged under newTag and maps ECR's clash errors.
// put writes newTag. wasAbsent says ECR reported newTag absent just before: an
// "already exists" on the same digest then means our own write landed (an SDK retry
// after a lost response), not that someone promoted before us.
func (r *ecrRegistry) put(ctx context.Context, newTag, manifest, mediaType, digest string, wasAbsent bool) (TagResult, error) {
	in := &ecr.PutImageInput{
		RepositoryName: aws.String(r.cfg.Repository),
		RegistryId:     r.registryID(),
		ImageManifest:  aws.String(manifest),
		ImageTag:       aws.String(newTag),
	}
	if mediaType != "" {
		in.ImageManifestMediaType = aws.String(mediaType)
	}
	if digest != "" {
		in.ImageDigest = aws.String(digest)
	}
	_, err := r.client.PutImage(ctx, in)
	var exists *ecrtypes.ImageAlreadyExistsException
	var tagExists *ecrtypes.ImageTagAlreadyExistsException
	switch {
	case err == nil:
		return r.readBack(ctx, newTag, digest, int64(len(manifest)))
	case errors.As(err, &exists):
		// Real ECR: this exact image already has the tag. Moto: also an immutable clash.
		done, cerr := r.existing(ctx, newTag, digest)
		if cerr != nil {
			return TagResult{}, cerr
		}
		if !done {
			return TagResult{}, &TagMovedError{Tag: newTag, Wanted: digest}
		}
		if wasAbsent {
			return TagResult{Digest: digest, BytesMoved: int64(len(manifest))}, nil
		}
		return TagResult{Digest: digest, AlreadyDone: true}, nil
	case errors.As(err, &tagExists):
		// Immutable repository: the tag is on another image.
		have, rerr := r.Resolve(ctx, newTag)
		if rerr == nil && have == digest {
			return TagResult{Digest: digest, AlreadyDone: true}, nil
		}
		return TagResult{}, &TagMovedError{Tag: newTag, Existing: have, Wanted: digest}
	default:
		return TagResult{}, r.awsError("tag "+newTag, err)
	}
}

// readBack confirms a PutImage: success only when newTag now names digest. A
// mutable repository's tag someone moved at the same moment, or a proxy that
// answered for another image, must not pass as a promotion.
func (r *ecrRegistry) readBack(ctx context.Context, newTag, digest string, moved int64) (TagResult, error) {
	have, err := r.Resolve(ctx, newTag)
	switch {
	case err != nil:
		return TagResult{}, fmt.Errorf("tag %s: wrote it but cannot read it back: %w; check with `aws ecr describe-images --repository-name %s --image-ids imageTag=%s`", newTag, err, r.cfg.Repository, newTag)
	case digest == "":
		return TagResult{Digest: have, BytesMoved: moved}, nil
	case have != digest:
		return TagResult{}, &TagMovedError{Tag: newTag, Existing: have, Wanted: digest}
	}
	return TagResult{Digest: digest, BytesMoved: moved}, nil
}

func (r *ecrRegistry) Check(ctx context.Context) error {
	_, err := r.Inspect(ctx)
	return err
}

// Inspect is Check, and reports the repository's tag mutability: release tags
// are only safe from being moved by a docker push when ECR makes them immutable.
func (r *ecrRegistry) Inspect(ctx context.Context) (CheckResult, error) {
	if err := haveCredentials(ctx, r.creds, "check ECR"); err != nil {
		return CheckResult{}, err
	}
	out, err := r.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{
		RegistryId:      r.registryID(),
		RepositoryNames: []string{r.cfg.Repository},
	})
	if err != nil {
		return CheckResult{}, r.awsError("check ECR repository "+r.cfg.Repository, err)
	}
	if _, err := r.Login(ctx); err != nil {
		return CheckResult{}, err
	}
	var res CheckResult
	if len(out.Repositories) > 0 {
		repo := out.Repositories[0]
		res.TagMutability = string(repo.ImageTagMutability)
		if res.TagMutability == "" {
			res.TagMutability = string(ecrtypes.ImageTagMutabilityMutable) // ECR's default
		}
		var excl []string
		for _, f := range repo.ImageTagMutabilityExclusionFilters {
			excl = append(excl, aws.ToString(f.Filter))
		}
		res.Warnings = mutabilityWarnings(r.cfg.Repository, r.cfg.Region, ecrtypes.ImageTagMutability(res.TagMutability), excl)
	}
	return res, nil
}

// mutabilityWarnings recommends immutable release tags for a repository whose
// tag mutability is m (with exclusion filters excl).
func mutabilityWarnings(repo, region string, m ecrtypes.ImageTagMutability, excl []string) []string {
	fix := fmt.Sprintf("`aws ecr put-image-tag-mutability --repository-name %s --region %s --image-tag-mutability IMMUTABLE`", repo, region)
	switch m {
	case ecrtypes.ImageTagMutabilityImmutable:
		return nil
	case ecrtypes.ImageTagMutabilityImmutableWithExclusion:
		// Tags matching a filter stay mutable: fine for latest-style tags, not for releases.
		var bad []string
		for _, f := range excl {
			if releaseTagMayMatch(f) {
				bad = append(bad, f)
			}
		}
		if len(bad) == 0 {
			return nil
		}
		return []string{fmt.Sprintf("ECR repository %s is IMMUTABLE_WITH_EXCLUSION, and its exclusion filter(s) %s leave release tags (v1.2.3) mutable: a docker push could move a release; narrow the filters so no release tag matches", repo, strings.Join(bad, ", "))}
	case ecrtypes.ImageTagMutabilityMutableWithExclusion:
		return []string{fmt.Sprintf("ECR repository %s has MUTABLE_WITH_EXCLUSION tags (immutable only where filters %s match): make sure they cover every release tag (v*), or make the repository immutable with %s", repo, strings.Join(excl, ", "), fix)}
	default:
		return []string{fmt.Sprintf("ECR repository %s has MUTABLE tags: gantry never moves a release tag, but a docker push elsewhere could; make release tags immutable with %s", repo, fix)}
	}
}

// releaseTagMayMatch reports whether an ECR tag filter (with * wildcards) could match v1.2.3.
func releaseTagMayMatch(filter string) bool {
	ok, err := path.Match(filter, "v1.2.3")
	return err == nil && ok
}
