// Package station is the operator's station console: a web page served by
// espprovd at /ui/ (scan a unit's QR label, watch it provision, handle the
// exceptions, see the shift's yield). The page is plain ES modules embedded
// in the binary (no build step, no external requests) and a client of the
// public REST API only: it holds no server-side state and no secret; the
// token the operator signs in with stays in the browser's session storage.
package station

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed web
var assets embed.FS

// Prefix is the URL path the page is served under.
const Prefix = "/ui/"

// CSP is the Content-Security-Policy of every asset: everything from the
// server itself, nothing inline, no frames, no form posts elsewhere.
const CSP = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's assets under Prefix (GET and HEAD; the caller
// routes only those). The assets are public: they hold no data, and every
// call the page makes goes through the API's own authentication.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "web")
	if err != nil {
		panic("station: embedded assets: " + err.Error()) // the embed directive guarantees web/
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// The page is small and changes with the binary: always revalidate.
		h.Set("Cache-Control", "no-cache")
		if strings.HasSuffix(r.URL.Path, ".js") {
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		}
		files.ServeHTTP(w, r)
	})
}
