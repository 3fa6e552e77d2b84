package identity

import (
	"context"
	"testing"
)

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context has an identity")
	}
	tests := []struct {
		id   Identity
		want string
	}{
		{Identity{Kind: KindToken, Name: "mes-line-1"}, "token:mes-line-1"},
		{Identity{Kind: KindCertificate, Name: "CN=station-7,O=Factory"}, "certificate:CN=station-7,O=Factory"},
		{Identity{Kind: KindAnonymous}, "anonymous"},
		{Identity{}, "anonymous"},
	}
	for _, tc := range tests {
		got, ok := FromContext(NewContext(context.Background(), tc.id))
		if !ok || got != tc.id {
			t.Errorf("FromContext = %v, %v; want %v", got, ok, tc.id)
		}
		if got.String() != tc.want {
			t.Errorf("String() = %q, want %q", got.String(), tc.want)
		}
	}
}
