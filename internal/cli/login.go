package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/espprov/espprov/internal/rainmaker"
)

// Tokens are what a RainMaker login returns.
type Tokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
}

// Authenticator logs in to ESP RainMaker. The default talks to POST
// {base}login2 (rainmaker.md §4.2); rainmaker.Client has no way to hand its
// tokens out, so the CLI does this one call itself.
type Authenticator interface {
	// Login returns tokens, or needMFA with a session when a verification
	// code is required.
	Login(ctx context.Context, baseURL, user, password string) (tok Tokens, mfaSession string, err error)
	// Verify completes a multi-factor login.
	Verify(ctx context.Context, baseURL, user, session, code string) (Tokens, error)
}

// errLoginRejected: the cloud rejected the user name or password.
var errLoginRejected = errors.New("login rejected")

type httpAuthenticator struct{ client *http.Client }

type loginReply struct {
	Status       string `json:"status"`
	Description  string `json:"description"`
	AccessToken  string `json:"accesstoken"`
	IDToken      string `json:"idtoken"`
	RefreshToken string `json:"refreshtoken"`
	Session      string `json:"session"`
}

func (h httpAuthenticator) post(ctx context.Context, baseURL string, body map[string]string) (loginReply, error) {
	var r loginReply
	b, err := json.Marshal(body)
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"login2", bytes.NewReader(b))
	if err != nil {
		return r, fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return r, fmt.Errorf("login: cannot reach %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, fmt.Errorf("login: reading reply: %w", err)
	}
	_ = json.Unmarshal(raw, &r)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		desc := r.Description
		if desc == "" {
			desc = http.StatusText(resp.StatusCode)
		}
		return r, fmt.Errorf("%w: %s (HTTP %d)", errLoginRejected, desc, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("login: HTTP %d from %s", resp.StatusCode, baseURL)
	}
	return r, nil
}

func (h httpAuthenticator) Login(ctx context.Context, baseURL, user, password string) (Tokens, string, error) {
	r, err := h.post(ctx, baseURL, map[string]string{"user_name": user, "password": password})
	if err != nil {
		return Tokens{}, "", err
	}
	if r.AccessToken == "" && r.Session != "" {
		return Tokens{}, r.Session, nil
	}
	if r.AccessToken == "" || r.IDToken == "" {
		return Tokens{}, "", errors.New("login: the reply carried no tokens")
	}
	return Tokens{AccessToken: r.AccessToken, IDToken: r.IDToken, RefreshToken: r.RefreshToken}, "", nil
}

func (h httpAuthenticator) Verify(ctx context.Context, baseURL, user, session, code string) (Tokens, error) {
	r, err := h.post(ctx, baseURL, map[string]string{"user_name": user, "session": session, "verification_code": code})
	if err != nil {
		return Tokens{}, err
	}
	if r.AccessToken == "" || r.IDToken == "" {
		return Tokens{}, errors.New("login: the reply carried no tokens")
	}
	return Tokens{AccessToken: r.AccessToken, IDToken: r.IDToken, RefreshToken: r.RefreshToken}, nil
}

func (a *app) loginCommand() *cobra.Command {
	var email, baseURL, region string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to ESP RainMaker and store the tokens for provisioning",
		Long: `Sign in to ESP RainMaker. The tokens are stored in
$XDG_CONFIG_HOME/espprov/rainmaker.json (default ~/.config/espprov/rainmaker.json)
with mode 0600 and used by 'provision' and 'map' to add nodes to your account.
The password is never stored.

` + exitCodesHelp,
		Example: `  espprov login --email me@example.com
  printf '%s\n' "$RM_PASSWORD" | espprov login --email me@example.com --password-stdin --region china`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if email == "" {
				return usageErr("--email is required")
			}
			if baseURL != "" && cmd.Flags().Changed("region") {
				return usageErr("give either --base-url or --region")
			}
			target := baseURL
			if target == "" {
				target = region
			}
			base, err := rainmaker.ResolveBaseURL(target)
			if err != nil {
				return usageErr("--base-url/--region: %v", err)
			}
			var password string
			switch {
			case passwordStdin:
				if password, err = a.ui.readLine(ctx); err != nil {
					return usageErr("--password-stdin: %v", err)
				}
			case a.interactive():
				if password, err = a.ui.askSecret(ctx, "Password: "); err != nil {
					return err
				}
			default:
				return usageErr("not running interactively: pass the password on stdin with --password-stdin")
			}
			if password == "" {
				return usageErr("the password is empty")
			}
			auth := a.auth
			if auth == nil {
				auth = httpAuthenticator{client: http.DefaultClient}
			}
			tok, session, err := auth.Login(ctx, base, email, password)
			if err == nil && session != "" {
				if !a.interactive() {
					return codeErr(ExitCloud, "the account needs a verification code (multi-factor login): run 'espprov login' at a terminal")
				}
				code, aerr := a.ui.ask(ctx, "Enter verification code: ")
				if aerr != nil {
					return aerr
				}
				tok, err = auth.Verify(ctx, base, email, session, strings.TrimSpace(code))
			}
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				return codeErr(ExitCloud, "%v", err)
			}
			who := email
			if cl, err := rainmaker.DecodeClaims(tok.IDToken); err == nil && cl.Email != "" {
				who = cl.Email
			}
			path, err := a.saveCloud(cloudConfig{BaseURL: base, UserName: email, AccessToken: tok.AccessToken, IDToken: tok.IDToken, RefreshToken: tok.RefreshToken})
			if err != nil {
				return err
			}
			if a.json() {
				writeJSONLine(a.stdout, map[string]string{"user": who, "baseUrl": base, "config": path})
				return nil
			}
			a.ui.println("Logged in to %s as %s.", base, who)
			a.ui.println("Tokens stored in %s (mode 0600).", path)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&email, "email", "", "ESP RainMaker account e-mail (user name)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	fs.StringVar(&baseURL, "base-url", "", "ESP RainMaker API base URL (custom deployments)")
	fs.StringVar(&region, "region", "global", "ESP RainMaker region: global or china")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the stored ESP RainMaker tokens",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			p, err := a.configPath()
			if err != nil {
				return err
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", p, err)
			}
			a.note("Logged out (removed %s).", p)
			return nil
		},
	}
}
