package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/bookshop-ops/gantry/config"
)

// Callers decide on credential problems with errors.Is; the messages stay as they were.
func TestCredentialErrorsAreTyped(t *testing.T) {
	err := awsError("list images", &smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "expired"}, "", "app", "us-east-1", "ecr")
	if !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "AWS rejected the credentials (ExpiredTokenException)") {
		t.Errorf("expired token: %v", err)
	}
	if err := haveCredentials(context.Background(), nil, "login"); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "no AWS credentials found") {
		t.Errorf("no credentials: %v", err)
	}
	if err := awsError("list", errors.New("boom"), "", "app", "us-east-1", "ecr"); errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNoCredentials) {
		t.Errorf("an unrelated failure is classified: %v", err)
	}

	// A registry that refuses every request: listing fails with ErrUnauthorized.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	t.Setenv(EnvUsername, "robot")
	t.Setenv(EnvPassword, "wrong")
	reg, err := New(context.Background(), config.Registry{Kind: config.KindOCI, Host: strings.TrimPrefix(srv.URL, "http://"), Repository: "app"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = reg.List(context.Background(), func([]Image) error { return nil })
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("list against a refusing registry: want ErrUnauthorized, got %v", err)
	}
}
