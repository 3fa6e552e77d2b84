package cli

import (
	"errors"
	"testing"
)

// FuzzParseQR: any --qrcode value is either refused as bad usage (exit 2)
// or gives a payload whose transport and security are valid.
func FuzzParseQR(f *testing.F) {
	for _, s := range []string{
		`{"ver":"v1","name":"PROV_fc9ea3","pop":"7a9d365e","transport":"ble"}`,
		`{"ver":"v1","name":"PROV_1","username":"wifiprov","pop":"abcd1234","transport":"softap","security":2}`,
		`{"security":1.5}`, `{"security":"2"}`, `{"transport":"SoftAP"}`, `[]`, `null`, `{}`, `{"a":1} x`,
		`{"security":99999999999999999999}`, `{"name":null,"pop":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseQR(s)
		if err != nil {
			var e *exitError
			if !errors.As(err, &e) || e.code != ExitUsage {
				t.Fatalf("parseQR(%q): %v is not a usage error", s, err)
			}
			return
		}
		if q.Transport != "" {
			if _, ok := parseTransport(q.Transport); !ok {
				t.Fatalf("accepted transport %q", q.Transport)
			}
		}
		if q.Security != nil && (*q.Security < 0 || *q.Security > 2) {
			t.Fatalf("accepted security %d", *q.Security)
		}
	})
}
