package kubectl

import (
	"errors"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func exampleManifest(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../examples/book-shop/k8s/app-prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseManifestExample(t *testing.T) {
	objs, err := ParseManifest("app-prod.yaml", exampleManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Kind != "Deployment" || objs[0].Name != "django-app" || objs[1].Kind != "Service" {
		t.Fatalf("objects = %+v", objs)
	}
	if len(objs[0].Containers) != 1 || objs[0].Containers[0] != "django-container" {
		t.Fatalf("containers = %v", objs[0].Containers)
	}
	if err := CheckManifestTarget("app-prod.yaml", objs, "django-app", "django-container", ""); err != nil {
		t.Fatal(err)
	}
	err = CheckManifestTarget("app-prod.yaml", objs, "django-app", "web", "")
	if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), `no container "web" (it has django-container)`) {
		t.Fatalf("wrong container: %v", err)
	}
	// A manifest without the deployment is fine: set image changes the live one.
	if err := CheckManifestTarget("app-prod.yaml", objs, "other", "web", ""); err != nil {
		t.Fatal(err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"not yaml":        {"apiVersion: v1\nkind: [unclosed\n", "bad Kubernetes manifest"},
		"no kind":         {"apiVersion: v1\nmetadata:\n  name: x\n", "document 1 has no kind"},
		"no name":         {"apiVersion: v1\nkind: Service\nmetadata: {}\n---\n", "no metadata.name"},
		"second document": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n- a list\n", "document 2 is not a mapping"},
		"empty":           {"---\n---\n", "holds no Kubernetes object"},
		"no apiVersion":   {"kind: Service\nmetadata:\n  name: a\n", "no apiVersion"},
	} {
		_, err := ParseManifest("m.yaml", []byte(tc.text))
		if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Empty documents between objects are allowed.
	objs, err := ParseManifest("m.yaml", []byte("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\n"))
	if err != nil || len(objs) != 1 {
		t.Fatalf("empty documents: %v %v", objs, err)
	}
}

func TestPrepareManifestSetsImageAndCause(t *testing.T) {
	const image = "127.0.0.1:5000/book-shop:v1.2.3@sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	out, found, err := PrepareManifest("app-prod.yaml", exampleManifest(t), "django-app", "django-container", "", image, "gantry promote 1.2.3")
	if err != nil || !found {
		t.Fatalf("found=%v err=%v", found, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(out)))
	var dep struct {
		Kind     string
		Metadata struct {
			Name        string
			Annotations map[string]string
		}
		Spec struct {
			Replicas int
			Template struct {
				Spec struct {
					Containers []struct {
						Name, Image string
						Ports       []map[string]int
					}
				}
			}
		}
	}
	if err := dec.Decode(&dep); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers
	if dep.Kind != "Deployment" || len(c) != 1 || c[0].Image != image || dep.Metadata.Annotations[ChangeCauseAnnotation] != "gantry promote 1.2.3" {
		t.Fatalf("deployment = %+v", dep)
	}
	if dep.Spec.Replicas != 2 || c[0].Ports[0]["containerPort"] != 8000 {
		t.Fatalf("other fields changed: %+v", dep)
	}
	var svc map[string]any
	if err := dec.Decode(&svc); err != nil || svc["kind"] != "Service" {
		t.Fatalf("service document: %v %v", svc, err)
	}
	// Preparing twice gives the same bytes (a re-run applies the same thing).
	again, _, err := PrepareManifest("app-prod.yaml", out, "django-app", "django-container", "", image, "gantry promote 1.2.3")
	if err != nil || string(again) != string(out) {
		t.Fatalf("not stable:\n%s\n---\n%s", out, again)
	}
	// A deployment pinned to another namespace is left alone.
	other := strings.Replace(string(exampleManifest(t)), "  name: django-app\n  labels:", "  name: django-app\n  namespace: elsewhere\n  labels:", 1)
	_, found, err = PrepareManifest("app-prod.yaml", []byte(other), "django-app", "django-container", "prod", image, "c")
	if err != nil || found {
		t.Fatalf("other namespace: found=%v err=%v", found, err)
	}
}
