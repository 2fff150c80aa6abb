package kubectl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// ChangeCauseAnnotation is the annotation `kubectl rollout history` shows per revision.
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// ManifestObject is one Kubernetes object of a manifest file.
type ManifestObject struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Line is where the object's document starts in the file.
	Line int
	// Containers lists the pod template's container names (workloads only).
	Containers []string
}

// ErrBadManifest marks a manifest that is not Kubernetes YAML.
var ErrBadManifest = errors.New("bad Kubernetes manifest")

// ParseManifest checks that data is Kubernetes YAML: every non-empty document is a
// mapping with apiVersion, kind and metadata.name.
func ParseManifest(name string, data []byte) ([]ManifestObject, error) {
	docs, err := decodeManifest(name, data)
	if err != nil {
		return nil, err
	}
	var objs []ManifestObject
	for i, d := range docs {
		root := docRoot(d)
		if root == nil {
			continue // an empty document, e.g. after a trailing ---
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: %s:%d: document %d is not a mapping", ErrBadManifest, name, root.Line, i+1)
		}
		o := ManifestObject{Line: root.Line}
		o.APIVersion = scalar(mapGet(root, "apiVersion"))
		o.Kind = scalar(mapGet(root, "kind"))
		md := mapGet(root, "metadata")
		o.Name = scalar(mapGet(md, "name"))
		o.Namespace = scalar(mapGet(md, "namespace"))
		var missing []string
		if o.APIVersion == "" {
			missing = append(missing, "apiVersion")
		}
		if o.Kind == "" {
			missing = append(missing, "kind")
		}
		if o.Name == "" {
			missing = append(missing, "metadata.name")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: %s:%d: document %d has no %s", ErrBadManifest, name, root.Line, i+1, strings.Join(missing, ", "))
		}
		for _, c := range seqItems(podContainers(root)) {
			o.Containers = append(o.Containers, scalar(mapGet(c, "name")))
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no Kubernetes object", ErrBadManifest, name)
	}
	return objs, nil
}

// CheckManifestTarget makes sure that, if the manifest holds the deployment, its pod
// template has the container gantry sets the image of.
func CheckManifestTarget(name string, objs []ManifestObject, deployment, container, namespace string) error {
	for _, o := range objs {
		if o.Kind != "Deployment" || o.Name != deployment {
			continue
		}
		if o.Namespace != "" && namespace != "" && o.Namespace != namespace {
			return fmt.Errorf("%w: %s:%d: deployment %s is in namespace %s but prod.namespace is %s", ErrBadManifest, name, o.Line, deployment, o.Namespace, namespace)
		}
		for _, c := range o.Containers {
			if c == container {
				return nil
			}
		}
		return fmt.Errorf("%w: %s:%d: deployment %s has no container %q (it has %s); set prod.container", ErrBadManifest, name, o.Line, deployment, container, strings.Join(o.Containers, ", "))
	}
	return nil
}

// PrepareManifest returns the manifest to apply: the file as written, except that the
// deployment's container gets image and the deployment records cause as its change
// cause. Without this, each apply would reset the image to the file's placeholder and
// roll out a revision of it, which `rollout undo` would later bring back.
func PrepareManifest(name string, data []byte, deployment, container, namespace, image, cause string) ([]byte, bool, error) {
	docs, err := decodeManifest(name, data)
	if err != nil {
		return nil, false, err
	}
	found := false
	for _, d := range docs {
		root := docRoot(d)
		if root == nil || root.Kind != yaml.MappingNode {
			continue
		}
		md := mapGet(root, "metadata")
		if scalar(mapGet(root, "kind")) != "Deployment" || scalar(mapGet(md, "name")) != deployment {
			continue
		}
		if ns := scalar(mapGet(md, "namespace")); ns != "" && namespace != "" && ns != namespace {
			continue
		}
		for _, c := range seqItems(podContainers(root)) {
			if scalar(mapGet(c, "name")) == container {
				mapSet(c, "image", image)
				found = true
			}
		}
		if cause != "" && md != nil && md.Kind == yaml.MappingNode {
			ann := mapGet(md, "annotations")
			if ann == nil || ann.Kind != yaml.MappingNode {
				ann = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				mapPut(md, "annotations", ann)
			}
			mapSet(ann, ChangeCauseAnnotation, cause)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, d := range docs {
		if docRoot(d) == nil {
			continue
		}
		if err := enc.Encode(d); err != nil {
			return nil, false, fmt.Errorf("%s: encode: %w", name, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, false, fmt.Errorf("%s: encode: %w", name, err)
	}
	return out.Bytes(), found, nil
}

func decodeManifest(name string, data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadManifest, name, err)
		}
		docs = append(docs, &n)
	}
	return docs, nil
}

// docRoot returns a document's top node, nil for an empty document.
func docRoot(d *yaml.Node) *yaml.Node {
	if d == nil || d.Kind != yaml.DocumentNode || len(d.Content) == 0 {
		return nil
	}
	r := d.Content[0]
	if r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
		return nil
	}
	return r
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapPut(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func mapSet(m *yaml.Node, key, value string) {
	if v := mapGet(m, key); v != nil {
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Line: v.Line, Column: v.Column}
		return
	}
	mapPut(m, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func seqItems(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// podContainers finds spec.template.spec.containers of a workload.
func podContainers(root *yaml.Node) *yaml.Node {
	return mapGet(mapGet(mapGet(mapGet(root, "spec"), "template"), "spec"), "containers")
}
