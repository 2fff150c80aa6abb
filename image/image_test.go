package image

import "testing"

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	for in, want := range map[string]Ref{
		"127.0.0.1:5000/book-shop:v1.2.3@" + dig:          {"127.0.0.1:5000/book-shop", "v1.2.3", dig},
		"127.0.0.1:5000/book-shop:1.0.0-SNAPSHOT-abcdef0": {"127.0.0.1:5000/book-shop", "1.0.0-SNAPSHOT-abcdef0", ""},
		"127.0.0.1:5000/book-shop":                        {"127.0.0.1:5000/book-shop", "", ""},
		"book-shop@" + dig:                                {"book-shop", "", dig},
		"repo/book-shop:v2.0.0rc1":                        {"repo/book-shop", "v2.0.0rc1", ""},
		"localhost:5000/a/b:7":                            {"localhost:5000/a/b", "7", ""},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
			continue
		}
		if got.String() != in {
			t.Errorf("Parse(%q).String() = %q", in, got.String())
		}
	}
	for _, in := range []string{"", "Book-Shop:1", "repo:", "repo@sha256:abc", "repo:bad tag", "a@b@c"} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, r)
		}
	}
}

func TestRefHelpers(t *testing.T) {
	r := New("127.0.0.1:5000/book-shop", "1.0.0-SNAPSHOT-abcdef0", dig)
	if got := r.WithTag("v1.0.0").String(); got != "127.0.0.1:5000/book-shop:v1.0.0" {
		t.Errorf("WithTag = %q", got)
	}
	if v := r.WithTag("v1.0.0").Version(); v != "1.0.0" {
		t.Errorf("Version = %q", v)
	}
	if v := (Ref{Repository: "r"}).Version(); v != "" {
		t.Errorf("no tag: Version = %q", v)
	}
}
