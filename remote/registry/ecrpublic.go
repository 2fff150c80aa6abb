package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/bookshop-ops/gantry/config"
	"github.com/google/go-containerregistry/pkg/authn"
)

const (
	// ecrPublicRegion is the only region serving the ECR Public API.
	ecrPublicRegion = "us-east-1"
	// ecrPublicHost is where ECR Public images are pushed and pulled.
	ecrPublicHost = "public.ecr.aws"
)

// ecrPublicRegistry is an Amazon ECR Public repository, public.ecr.aws/<alias>/<repo>.
// Listing and the preflight go through the ECR Public API; tags through the V2 API.
type ecrPublicRegistry struct {
	cfg    config.Registry
	client *ecrpublic.Client
	opts   Options
	creds  aws.CredentialsProvider
	host   string
	login  loginCache

	mu    sync.Mutex
	alias string
}

func newECRPublic(ctx context.Context, cfg config.Registry, opts Options) (*ecrPublicRegistry, error) {
	ac, err := loadAWS(ctx, ecrPublicRegion, opts)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r := &ecrPublicRegistry{cfg: cfg, opts: opts, host: cfg.Host, alias: cfg.Alias, creds: ac.Credentials}
	if r.host == "" {
		r.host = ecrPublicHost
	}
	r.client = ecrpublic.NewFromConfig(ac, func(o *ecrpublic.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
	})
	if r.alias == "" {
		// The account's default alias is only known to AWS; without credentials the
		// alias stays empty and Check says to set registry.alias.
		if err := r.lookupAlias(ctx); err != nil {
			opts.logf("registry: ECR Public alias unknown: %v", err)
		}
	}
	return r, nil
}

func (r *ecrPublicRegistry) lookupAlias(ctx context.Context) error {
	if err := haveCredentials(ctx, r.creds, "find the ECR Public registry alias"); err != nil {
		return err
	}
	out, err := r.client.DescribeRegistries(ctx, &ecrpublic.DescribeRegistriesInput{})
	if err != nil {
		return r.awsError("find the ECR Public registry alias", err)
	}
	var alias string
	for _, reg := range out.Registries {
		for _, a := range reg.Aliases {
			if a.PrimaryRegistryAlias || (alias == "" && a.DefaultRegistryAlias) {
				alias = aws.ToString(a.Name)
			}
		}
	}
	if alias == "" {
		return errors.New("the account has no ECR Public registry alias; set registry.alias")
	}
	r.mu.Lock()
	r.alias = alias
	r.mu.Unlock()
	return nil
}

func (r *ecrPublicRegistry) awsError(op string, err error) error {
	return awsError(op, err, r.cfg.Endpoint, r.cfg.Repository, ecrPublicRegion, "ecr-public")
}

func (r *ecrPublicRegistry) Kind() config.RegistryKind { return config.KindECRPublic }
func (r *ecrPublicRegistry) Host() string              { return r.host }

// Repository is public.ecr.aws/<alias>/<repo>; without a known alias, host/<repo>.
func (r *ecrPublicRegistry) Repository() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.alias == "" {
		return r.host + "/" + r.cfg.Repository
	}
	return r.host + "/" + r.alias + "/" + r.cfg.Repository
}

func (r *ecrPublicRegistry) Login(ctx context.Context) (Credentials, error) {
	return r.login.get(ctx, func(ctx context.Context) (Credentials, error) {
		if err := haveCredentials(ctx, r.creds, "log in to ECR Public"); err != nil {
			return Credentials{}, err
		}
		out, err := r.client.GetAuthorizationToken(ctx, &ecrpublic.GetAuthorizationTokenInput{})
		if err != nil {
			return Credentials{}, r.awsError("log in to ECR Public (ecr-public:GetAuthorizationToken)", err)
		}
		if out.AuthorizationData == nil || out.AuthorizationData.AuthorizationToken == nil {
			return Credentials{}, errors.New("log in to ECR Public: the response holds no authorization token")
		}
		user, pw, err := decodeAWSToken(*out.AuthorizationData.AuthorizationToken)
		if err != nil {
			return Credentials{}, fmt.Errorf("log in to ECR Public: %w", err)
		}
		return Credentials{Host: r.host, Username: user, Password: pw, ExpiresAt: aws.ToTime(out.AuthorizationData.ExpiresAt)}, nil
	})
}

func (r *ecrPublicRegistry) v2() (*v2Client, error) {
	r.mu.Lock()
	alias := r.alias
	r.mu.Unlock()
	if alias == "" {
		return nil, errors.New("the ECR Public registry alias is unknown; set registry.alias (public.ecr.aws/<alias>/<repo>)")
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

// List reads every page (1,000 images each) and streams the images newest push first across all of them.
func (r *ecrPublicRegistry) List(ctx context.Context, fn func([]Image) error) error {
	p := ecrpublic.NewDescribeImagesPaginator(r.client, &ecrpublic.DescribeImagesInput{
		RepositoryName: aws.String(r.cfg.Repository),
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

func (r *ecrPublicRegistry) Resolve(ctx context.Context, tag string) (string, error) {
	c, err := r.v2()
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", tag, err)
	}
	return c.resolve(ctx, tag)
}

func (r *ecrPublicRegistry) Labels(ctx context.Context, tag string) (map[string]string, error) {
	c, err := r.v2()
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", tag, err)
	}
	return c.labels(ctx, tag)
}

func (r *ecrPublicRegistry) Tag(ctx context.Context, srcTag, newTag string) (TagResult, error) {
	c, err := r.v2()
	if err != nil {
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	return c.tag(ctx, srcTag, newTag)
}

func (r *ecrPublicRegistry) Check(ctx context.Context) error {
	if err := haveCredentials(ctx, r.creds, "check ECR Public"); err != nil {
		return err
	}
	_, err := r.client.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{
		RepositoryNames: []string{r.cfg.Repository},
	})
	if err != nil {
		return r.awsError("check ECR Public repository "+r.cfg.Repository, err)
	}
	r.mu.Lock()
	alias := r.alias
	r.mu.Unlock()
	if alias == "" {
		if err := r.lookupAlias(ctx); err != nil {
			return fmt.Errorf("check ECR Public: %w", err)
		}
	}
	if _, err := r.Login(ctx); err != nil {
		return err
	}
	return nil
}
