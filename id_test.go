package vayva_test

import (
	"testing"

	"github.com/vayvahq/vayva"
)

func TestHasIDPrefix(t *testing.T) {
	id := vayva.NewID("ord")
	for _, c := range []struct {
		id   string
		want bool
	}{
		{id, true},
		{"ord_", false},
		{"prd_abc", false},
		{"ord_abc\xff", false},
		{"ord_ABC", false},
		{"ord_abc def", false},
		{"ord_" + string(make([]byte, 40)), false},
	} {
		if got := vayva.HasIDPrefix(c.id, "ord"); got != c.want {
			t.Errorf("HasIDPrefix(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}
