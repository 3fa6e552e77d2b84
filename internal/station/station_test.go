package station_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestStationPage is an operator's shift at one station, in a real
// browser against espprovd and espsim: sign-in (a wrong token refused),
// ten units provisioned from the page alone, a unit whose Wi-Fi is not
// found turns red with its reason and is retried to green, a wrong PoP is
// red and set aside, a reload in the middle of a job reattaches (and a
// second browser sees it too), and the shift view counts them.
// Screenshots of the board and the shift view are artifacts.
func TestStationPage(t *testing.T) {
	// One simulated line of 14 RainMaker units: 0-9 healthy, 10 does not
	// find the Wi-Fi once, 11 gets a wrong PoP, 12 takes 30 s to join, 13
	// stops answering in the handshake.
	sim := startSim(t, 14, "--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--key-type", "ec",
		"--fault", "10=not-found@wifi", "--fault", "12=slow@wifi", "--slow-association", "30s",
		"--fault", "13=stall@session-1")
	fleet, faulty, slow, stalled := sim.units[:10], sim.units[10:12], sim.units[12], sim.units[13]
	srv := startServer(t, sim, true)
	b := newBrowser(t, srv.url)
	tb := b.newTab()

	t.Run("sign-in", func(t *testing.T) {
		tb := tb.with(t)
		tb.do(waitShort, "open", chromedp.Navigate(srv.url+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
		tb.do(waitShort, "wrong token", chromedp.SendKeys(chromedp.ID("token"), "espprov_wrong-token\r"))
		tb.waitJS(waitShort, "refusal shown", `document.querySelector('#signin-error').textContent.includes('Token refused')`)
		if eval[bool](tb, `document.querySelector('#board-view').hidden === false`) {
			t.Fatal("the board is shown after a wrong token")
		}
		tb.do(waitShort, "right token", chromedp.SendKeys(chromedp.ID("token"), srv.token+"\r"))
		tb.do(waitShort, "board", chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #scan`)))
		info := eval[string](tb, `document.querySelector('#profile-info').textContent`)
		for _, want := range []string{"Wi-Fi " + ssid, "passphrase: set", "station line-1-a"} {
			if !strings.Contains(info, want) {
				t.Errorf("profile line %q lacks %q", info, want)
			}
		}
	})

	t.Run("fleet-of-ten", func(t *testing.T) {
		tb := tb.with(t)
		start := time.Now()
		for _, u := range fleet {
			tb.scan(u.qr(sec2Pass))
		}
		for _, u := range fleet {
			sel := card(u.name, "succeeded")
			tb.do(waitLong, "green "+u.name, chromedp.WaitVisible(chromedp.CSS(sel)))
			line := eval[string](tb, fmt.Sprintf(`document.querySelector('%s .line').textContent`, sel))
			if line != "node "+u.node {
				t.Errorf("%s: line %q, want node %s", u.name, line, u.node)
			}
		}
		el := time.Since(start)
		t.Logf("ten units from the page: %v (%.0f units/hour at this station)", el.Round(time.Millisecond), 10/el.Hours())
	})

	t.Run("network-not-found-then-retry", func(t *testing.T) {
		tb := tb.with(t)
		u := faulty[0]
		tb.scan(u.qr(sec2Pass))
		tb.do(waitLong, "red card", chromedp.WaitVisible(chromedp.CSS(card(u.name, "failed"))))
		line := eval[string](tb, fmt.Sprintf(`document.querySelector('%s .line').textContent`, card(u.name, "failed")))
		if line != "Wi-Fi not found: check the AP" {
			t.Errorf("reason line %q, want the Wi-Fi-not-found advice", line)
		}
		// The fault happens once: a retry with the request kept in page
		// memory (the label is not scanned again) provisions the unit.
		tb.click(card(u.name, "failed") + ` [data-act="retry"]`)
		tb.do(waitLong, "green card", chromedp.WaitVisible(chromedp.CSS(card(u.name, "succeeded"))))
	})

	t.Run("wrong-pop-set-aside", func(t *testing.T) {
		tb := tb.with(t)
		u := faulty[1]
		tb.scan(u.qr(wrongPoP))
		sel := card(u.name, "failed")
		tb.do(waitLong, "red card", chromedp.WaitVisible(chromedp.CSS(sel)))
		if c := eval[string](tb, fmt.Sprintf(`document.querySelector('%s').dataset.class`, sel)); c != "WRONG_POP" {
			t.Errorf("failure class %q, want WRONG_POP", c)
		}
		line := eval[string](tb, fmt.Sprintf(`document.querySelector('%s .line').textContent`, sel))
		if !strings.HasPrefix(line, "Wrong PoP: check the label") {
			t.Errorf("reason line %q, want the wrong-PoP advice", line)
		}
		jobID := eval[string](tb, fmt.Sprintf(`document.querySelector('%s').dataset.job`, sel))
		// Set aside is offered once the job's record has ended.
		tb.click(sel + ` [data-act="aside"]`)
		tb.do(waitShort, "reason", chromedp.WaitVisible(chromedp.ID("aside-dialog")), chromedp.Click(chromedp.CSS(`#aside-dialog .reason`)))
		tb.waitJS(waitShort, "set aside shown", fmt.Sprintf(`(document.querySelector('%s .aside-note') || {}).textContent === 'SET ASIDE: Label unreadable'`, sel))
		var job struct {
			State  string            `json:"state"`
			Labels map[string]string `json:"labels"`
		}
		srv.get(t, "/v1/jobs/"+jobID, &job)
		if job.Labels["set_aside"] != "true" || job.Labels["set_aside_reason"] != "Label unreadable" {
			t.Errorf("job %s (%s) labels %v, want set_aside=true and the reason", jobID, job.State, job.Labels)
		}
	})

	t.Run("reload-reattaches", func(t *testing.T) {
		tb := tb.with(t)
		u := slow
		// A second browser (its own Chromium and profile, so its own
		// session storage: it signs in), started first so that its start
		// is not inside the job's 30 s.
		b2 := newBrowser(t, srv.url)
		other := b2.newTab().with(t)
		other.open(srv)
		defer b2.check()
		tb.scan(u.qr(sec2Pass))
		// The device takes 30 s to join: reload once it is joining.
		tb.waitJS(waitLong, "joining", fmt.Sprintf(`[...document.querySelectorAll('%s .steps li')].some(li => li.textContent === 'Applied')`, card(u.name, "running")))
		// The board mid-shift: one unit joining, one failed and set aside,
		// the rest green (the README's picture: internal/station/screenshot.png).
		tb.screenshot("station-board-live.png")
		tb.do(waitShort, "reload", chromedp.Reload())
		tb.do(waitShort, "signed in after reload", chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #scan`)))
		tb.do(waitShort, "reattached", chromedp.WaitVisible(chromedp.CSS(card(u.name, "running"))))
		other.do(waitShort, "second browser", chromedp.WaitVisible(chromedp.CSS(card(u.name, "running"))))
		// The recent results are back too; the PoP of the failed unit was
		// only in the page's memory: its retry asks for the label again.
		retry := card(faulty[1].name, "failed") + ` [data-act="retry"]`
		tb.click(retry)
		tb.waitJS(waitShort, "rescan asked", fmt.Sprintf(`document.querySelector('#scan-msg').textContent === 'Scan the label of %s again to retry.'`, faulty[1].name))
		tb.do(waitLong, "green after reload", chromedp.WaitVisible(chromedp.CSS(card(u.name, "succeeded"))))
		other.do(waitLong, "green in the second browser", chromedp.WaitVisible(chromedp.CSS(card(u.name, "succeeded"))))
	})

	t.Run("cancel", func(t *testing.T) {
		tb := tb.with(t)
		u := stalled
		tb.scan(u.qr(sec2Pass))
		tb.click(card(u.name, "running") + `:not([data-job=""]) [data-act="cancel"]:not([disabled])`)
		// The job stops at the next step boundary: when the stalled
		// exchange times out (the profile's 10 s).
		tb.waitJS(waitShort, "cancel requested", fmt.Sprintf(`!!document.querySelector('%s[data-cancel="requested"]')`, card(u.name, "running")))
		tb.do(waitLong, "cancelled card", chromedp.WaitVisible(chromedp.CSS(card(u.name, "cancelled"))))
	})

	t.Run("shift-view", func(t *testing.T) {
		tb := tb.with(t)
		tb.do(waitShort, "shift tab", chromedp.Click(chromedp.ID("tab-shift")), chromedp.WaitVisible(chromedp.ID("yield")))
		// 14 units: 12 provisioned (the fleet, the retried one, the slow
		// one), 1 failed (wrong PoP), 1 cancelled (not counted in the yield).
		got := eval[[]string](tb, `['#units', '#units-ok', '#units-bad', '#yield'].map(s => document.querySelector(s + ' .v').textContent)`)
		if want := []string{"14", "12", "1", "92.3 %"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("shift figures (units, ok, failed, yield) = %v, want %v", got, want)
		}
		for _, c := range []string{"WRONG_POP", "NETWORK_NOT_FOUND"} { // the retried unit failed once
			if !eval[bool](tb, fmt.Sprintf(`!!document.querySelector('#by-class g[data-class=%q]')`, c)) {
				t.Errorf("failures by class lack %s", c)
			}
		}
		tb.screenshot("station-shift.png")
		tb.do(waitShort, "export", chromedp.Click(chromedp.ID("export")))
		tb.waitJS(waitShort, "export fetched", `performance.getEntriesByType('resource').some(e => e.name.includes('/v1/jobs:export'))`)
		if st := b.responded("/v1/jobs:export"); st != 200 {
			t.Errorf("CSV export answered %d, want 200", st)
		}
		tb.do(waitShort, "board tab", chromedp.Click(chromedp.ID("tab-board")), chromedp.WaitVisible(chromedp.ID("scan")))
		tb.screenshot("station-board.png")
	})

	t.Run("no-secrets", func(t *testing.T) {
		tb := tb.with(t)
		html := eval[string](tb, `document.documentElement.outerHTML`)
		for _, s := range []string{wifiPass, sec2Pass, wrongPoP, srv.token} {
			if strings.Contains(html, s) {
				t.Errorf("the page's DOM holds a secret (%d bytes)", len(s))
			}
		}
		logs := srv.output()
		for _, s := range []string{wifiPass, sec2Pass, wrongPoP, srv.token} {
			if strings.Contains(logs, s) {
				t.Errorf("espprovd's log holds a secret (%d bytes)", len(s))
			}
		}
	})
	b.check()
}

// TestNoSignInOnLoopback: espprovd without authentication (loopback only)
// serves the page without a sign-in.
func TestNoSignInOnLoopback(t *testing.T) {
	sim := startSim(t, 1)
	units := sim.units
	srv := startServer(t, sim, false)
	b := newBrowser(t, srv.url)
	tb := b.newTab()
	tb.open(srv)
	if eval[bool](tb, `!document.querySelector('#signin').hidden || !document.querySelector('#sign-out').hidden`) {
		t.Error("sign-in shown by a server without authentication")
	}
	tb.scan(units[0].qr(sec2Pass))
	tb.do(waitLong, "green card", chromedp.WaitVisible(chromedp.CSS(card(units[0].name, "succeeded"))))
	b.check()
}

// TestQRRules checks the page's QR parsing (qr.js) against the CLI's
// --qrcode rules: the label's security, else its username (Security 2),
// else the profile's scheme; the Security 2 password is the PoP.
func TestQRRules(t *testing.T) {
	srv := startServer(t, startSim(t, 1), false)
	b := newBrowser(t, srv.url)
	tb := b.newTab()
	tb.open(srv)
	tests := []struct {
		name    string
		payload string
		scheme  int    // the profile's scheme (-1: none)
		want    string // JSON of security(), or "error: <substring>"
	}{
		{"pop only", `{"ver":"v1","name":"PROV_1","pop":"abcd1234","transport":"ble"}`, -1, `{"pop":"abcd1234"}`},
		{"pop, profile sec2", `{"ver":"v1","name":"PROV_1","pop":"abcd1234"}`, 2, `{"scheme":"SECURITY_SCHEME_2","sec2Password":"abcd1234"}`},
		{"username means sec2", `{"ver":"v1","name":"PROV_1","pop":"p1","username":"wifiprov"}`, 1, `{"scheme":"SECURITY_SCHEME_2","sec2Username":"wifiprov","sec2Password":"p1"}`},
		{"security string", `{"ver":"v1","name":"PROV_1","pop":"p1","security":"1"}`, 2, `{"scheme":"SECURITY_SCHEME_1","pop":"p1"}`},
		{"security 0", `{"ver":"v1","name":"PROV_1","pop":"p1","security":0}`, -1, `{"scheme":"SECURITY_SCHEME_0"}`},
		{"transport spelling", `{"name":"PROV_1","transport":"On_Network"}`, -1, `{}`},
		{"security 3", `{"name":"PROV_1","security":3}`, -1, "error: security must be 0, 1 or 2"},
		{"security word", `{"name":"PROV_1","security":"two"}`, -1, "error: security must be 0, 1 or 2"},
		{"unknown transport", `{"name":"PROV_1","transport":"zigbee"}`, -1, "error: unknown transport"},
		{"name not a string", `{"name":5}`, -1, `error: "name" must be a string`},
		{"no name", `{"pop":"p1"}`, -1, "error: without a device"},
		{"not JSON", `PROV_1 p1`, -1, "error: invalid JSON"},
		{"array", `[1]`, -1, "error: expected an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, _ := json.Marshal(tc.payload)
			got := evalAwait[string](tb.with(t), fmt.Sprintf(`import('./qr.js').then(q => {
				try { return JSON.stringify(q.security(q.parseQR(%s), %d)); } catch (e) { return 'error: ' + e.message; }
			})`, payload, tc.scheme))
			if strings.HasPrefix(tc.want, "error: ") {
				if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) {
					t.Errorf("got %s, want %s", got, tc.want)
				}
				if strings.Contains(got, "abcd1234") || strings.Contains(got, `"p1"`) {
					t.Errorf("error repeats the PoP: %s", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("security = %s, want %s", got, tc.want)
			}
		})
	}
	b.check()
}
