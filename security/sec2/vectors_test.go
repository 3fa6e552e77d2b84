package sec2

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/espprov/espprov/security"
)

func unhex(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Spec §12.1 and §12.3.
const (
	vUser     = "wifiprov"
	vPass     = "abcd1234"
	vSalt     = "036ee0c7bcb9eda84c9eac97d93decf4"
	vVerifier = "7c7c85476508946dd636af37d7e8914378cffd616c59d2f83908127238de9e24a470261cdfa903c2b270e7b13224da111d9718dc607208cc9ac90c4827e2ae89aa1625b804d21a9b3a8f37f6e43a712ee127866eadce28ff5446601fb99687dc5740a7d46cc97754dc1682f0ed356ac470ad3d90b5819470d7bc65b2d518e02ec3a5f968dd647bb8b73c9cfc00d8717eb79a7cb1b7c2c318342932433e0099e98294e3d82ab09629b7df0e5f08334076529132009f972c896c391ec8280544173f68028a9f4461d1f5a17e5a70d2c72381cb3868e42c20bc40577617bd08b896bc26eb32466935058c1570d91be9becca938a667f0ad5013197264bf52c234e21b11797472bd345bb1e2fd6673fe716474d04ebc51241940870e9240e621e72d4e37762f2ee268c789e8321342068484534ab30c1b4c8d1c519719abae77ffdbecf0109534336bcb3e840fb9d85fb8a0b855533e70f718f5ce7b4ebf27cecea8b3be40c5c532293e71649ede8cf675a1e6f653c831a878de5040f762de36b2ba"
	vA        = "9112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30"
	vB        = "5152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70"
	vNonceID  = "c0c1c2c3c4c5c6c7"
	vIVPatch0 = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"

	vK       = "a9c2e2559bf0ebb53f0cbbf62282906bede7f2182f00678211fbd5bde5b285033a4993503b87397f9be5ec02080fedbc0835587ad039060879b8621e8c3659e0"
	vX       = "869b97a7399bdc2e9e2943dbf1f5347a10108ea60e278cafb5849aa0c14f6b735aa186d260e779838af03d4393961086dabe3321c01c58672f186b698f83314a"
	vPubA    = "9641e81f06d37ca36d43ac1dfcb3301f9c0b0c929030bf2402cc4c32c550ba232da9542593dffd506a396adca35d534d5b74f07ce1d589cd4e7a2f66531c28da89e940515096465439d2afc7cdafd3347de12edbdc632d646e432e0d3d9e75ced93be040efde3e164b0a153166a5ed6cd22e2d0534ce702c7b98f40109c201804f05eb90b96e0008085ddd32a98a3a57699f92d64210a6ab253849dc10f0ce7db3f75465dde6b55287afd3853faf2951b7fc1e1e81d8000ce2a5882bf7ed23c0a27549017e11f892386201ccb6370f2d5db7c074da1262f7825421a58448bdb04ebad8862d05dc5187b6e9fff4a0f8f8cac42f21c734aa14985f04f415a35ddeb4094ab9d8b8e68d899513d618a69b2ffb0b29ef158299019a8ffb500163a9482e379ac587cc3c9a9384460285866144b8ee415bede86505f068e787da6c013f5cbefe38d08df5d39647342acb25750ff5e70c26ca14f8d03ab3e390c9d0665920de4e82ac01a16b7e7f9a29aed603bced723dac6d739018a3bd723d9b1b9c37"
	vPubB    = "880bce66097a3942db24e7350253f70ed9119b5c2a730018cd0379651862a09f7b12761256e705326c407aea21ef4b2bb4873c72abcb2ddcb3ca38ab494958bbc8c1a31f9b23cf314e21aad2bee9d7b1fc63473c21a6f197ff6e80db7a34bf48ece70f1b2e79b155316a264a7865face18ff4fdafb4c705c3310f52d0f4372a923397dd53bdefe5f9e211d86df40981ee9f0299145b0042f586b4578a74aef4d7e9b59e9c2df0246add70d1e0747f19c83296d6ffb7787ae5efae33b74f118cf6a0c1a18658779d0fd89c7f61976c9672a600573764c8e1b3352a2a312f2a06e64161134ce1ee6afe3a093ed4d04f5068ad9dbbc72574009afbb8f2dfc0fbc2abc9e3e76f4e459c52c023b8c6d97196acfdefaa3be9df97f18eeb0ae2f836380cb7d622ca511a4d3d37fede3a7084b7afa8ed2355e37e61a9ffc7d8632d505d06b9c6db57bfe57e67fe71cc86ad1ac686ac64f9d69dd153d23573ea27ccebed4aada20c1e1af718d46cf2e36aa4673397aae9da3f2bd49a2a53023bb8d3af52e"
	vU       = "3583e24af4569f62cc501f95ec7eadfcf315cd9b813f1f3cbc3c86d3a3d86cd09ec8891e95b7490932478ef6be1077e52dbe710bed2a9775ddf0f43e5689c7ee"
	vKey     = "3f537151ed51aaa3af244c0d85e1ca829aa70a4a80ba38106627542c7dd917103e3726007f50aa691c4640a2731b43313eddd70b08637b6632a66d564f49af3b"
	vM       = "551420ddbaf8d3ddb6cf5ddf6d50357c899ffd3f27a08852653755db3b04efdcbf52826d5cd1ef8f3ad21b4795ac5903928b86d2a08562cb35c73909d281030e"
	vHAMK    = "8829951ef8ae92fd0df9d4f1516a55aa8861ba706b679359ef1fcd50fbea271726bfec3a45272f15b5a9fd95be59f27fe0d6f07c549306b84852d0a05187db47"
	vAESKey  = "3f537151ed51aaa3af244c0d85e1ca829aa70a4a80ba38106627542c7dd91710"
	vShortB  = "5152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6fb8"
	vShortU  = "b16bb9a5c05d7245df1d370a00a4957e978bde8e6177c6a96ca2bc38f6c67b96b1085aba1c6a0b82818897d122b17f5106cc7a27dec3d624422180e3140a3ac0"
	vShortK  = "a84aa8b2191828bbd95c34431f6b79a184e7f72decbef9498ac96266ad2c1ed96d34542804eb6d5861120118bf7bed79aab236dab3a919669406343688764540"
	vShortM  = "f53ff0602ebff3bccefb44b87688bb7aaad091fd93f19afaebf1ee46d28bebd0d2af66cd5475c8d5a3f6bdd726cd43b9d27c27988c48c05bbca0dca9aabf2c27"
	vShortHA = "044234372204af292e5efbc8e02e95ddfef07e7fa961d57b69b08314d4c7ad39eab81b1436047bca95f9e78f0d55de5218cc775ab9030aac292d455cdcaab9e4"
)

func vectorCmd0(t testing.TB) []byte {
	return unhex(t, "1002629103a2018d030a087769666970726f76128003", vPubA)
}
func vectorResp0(t testing.TB) []byte {
	return unhex(t, "1002629b030801aa019503128003", vPubB, "1a10", vSalt)
}
func vectorCmd1(t testing.TB) []byte { return unhex(t, "100262470802b201420a40", vM) }
func vectorResp1(t testing.TB) []byte {
	return unhex(t, "100262550803ba01501240", vHAMK, "1a0c", vNonceID, "00000001")
}

// vectorResp1Patch0 is derived from the §12.3 values (the spec lists only
// the patch-0 ciphertexts): sr1{status, HAMK, 16-byte nonce}.
func vectorResp1Patch0(t testing.TB) []byte {
	return unhex(t, "100262590803ba01541240", vHAMK, "1a10", vIVPatch0)
}

func vectorClient(t testing.TB) security.Handshaker {
	return NewClient(vUser, vPass, security.WithRand(bytes.NewReader(unhex(t, vA))))
}

func vectorDevice(t testing.TB, patch int, b string) security.Handshaker {
	nonce := vNonceID
	if patch == 0 {
		nonce = vIVPatch0
	}
	return NewDevice(unhex(t, vSalt), unhex(t, vVerifier), patch,
		security.WithRand(bytes.NewReader(unhex(t, b, nonce))))
}

// TestGroup proves N and g: k and the published verifier reproduce exactly.
func TestGroup(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"k", multK.Bytes(), vK},
		{"x", computeX(vUser, vPass, unhex(t, vSalt)).Bytes(), vX},
		{"verifier", Verifier(vUser, vPass, unhex(t, vSalt)), vVerifier},
		{"N start", nBytes[:12], "ffffffffffffffffc90fdaa2"},
		{"N end", nBytes[PubKeyLen-12:], "a93ad2caffffffffffffffff"},
	}
	for _, tt := range tests {
		if hex.EncodeToString(tt.got) != tt.want {
			t.Errorf("%s = %x, want %s", tt.name, tt.got, tt.want)
		}
	}
	if len(unhex(t, vVerifier)) != PubKeyLen {
		t.Fatal("published verifier is not 384 bytes")
	}
}

type step struct {
	name     string
	h        security.Handshaker
	in       []byte
	want     []byte
	wantDone bool
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		out, done, err := s.h.Step(s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if done != s.wantDone || !bytes.Equal(out, s.want) {
			t.Fatalf("%s: got %x done=%v, want %x done=%v", s.name, out, done, s.want, s.wantDone)
		}
	}
}

// TestHandshakeVectors: every §12.3 handshake byte string, each side fed the
// other's reference bytes, for both patch levels.
func TestHandshakeVectors(t *testing.T) {
	for _, patch := range []int{1, 0} {
		resp1 := vectorResp1(t)
		if patch == 0 {
			resp1 = vectorResp1Patch0(t)
		}
		c, d := vectorClient(t), vectorDevice(t, patch, vB)
		runSteps(t, []step{
			{"client Cmd0", c, nil, vectorCmd0(t), false},
			{"device Resp0", d, vectorCmd0(t), vectorResp0(t), false},
			{"client Cmd1", c, vectorResp0(t), vectorCmd1(t), false},
			{"device Resp1", d, vectorCmd1(t), resp1, true},
			{"client done", c, resp1, nil, true},
		})
		if len(vectorCmd0(t)) != 406 || len(vectorResp0(t)) != 416 || len(vectorCmd1(t)) != 75 || len(vectorResp1(t)) != 89 {
			t.Fatal("vector lengths differ from §12.3")
		}
		checkMessages(t, patch, c.Cipher(), d.Cipher())
	}
}

// TestDerivations checks the intermediate values of §12.3 on the device.
func TestDerivations(t *testing.T) {
	d := vectorDevice(t, 1, vB).(*device)
	if _, _, err := d.Step(vectorCmd0(t)); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  []byte
		want string
	}{
		{"B", d.pubB, vPubB},
		{"u", computeU(d.pubA, d.pubB).Bytes(), vU},
		{"K", d.key, vKey},
		{"AES key", d.key[:aesKeyLen], vAESKey},
		{"M", computeM(d.username, d.salt, d.pubA, d.pubB, d.key), vM},
		{"HAMK", computeHAMK(d.pubA, unhex(t, vM), d.key), vHAMK},
	}
	for _, c := range checks {
		if hex.EncodeToString(c.got) != c.want {
			t.Errorf("%s = %x, want %s", c.name, c.got, c.want)
		}
	}
	a, pubA, err := clientSecret(bytes.NewReader(unhex(t, vA)))
	if err != nil || hex.EncodeToString(pubA) != vPubA || hex.EncodeToString(a.Bytes()) != vA {
		t.Fatalf("client secret: %x %x %v", a, pubA, err)
	}
}

// checkMessages replays the §12.3 encrypted ScanStart/ScanStatus exchange.
func checkMessages(t *testing.T, patch int, client, device security.Cipher) {
	t.Helper()
	msgs := []struct {
		name        string
		fromClient  bool
		plain, want string
	}{
		{"ScanStart (ctr 1)", true, "520408012078", "16427761336e2f90bee54a80bc68e43fd1dde5c6b903"},
		{"RespScanStart (ctr 2)", false, "08015a00", "75222e225fde54929e9ba682886bcdea0ab62dd8"},
		{"ScanStatus (ctr 3)", true, "0802", "f2431353867a05584fcec4e0c62130d93c05"},
		{"RespScanStatus (ctr 4)", false, "08036a0408011005", "f78041bc8d3ed69cbda8ccd8a76ca5ba395989f5e27dd6d6"},
	}
	if patch == 0 {
		msgs = msgs[:2]
		msgs[0].want = "e74955a7d13d987659846afb73619b0712196ea54e31"
		msgs[1].want = "bd4c07a6f50c2a9ed53ab6e29854bca38524d3b1"
	}
	for _, m := range msgs {
		enc, dec := device, client
		if m.fromClient {
			enc, dec = client, device
		}
		plain := unhex(t, m.plain)
		ct, err := enc.Encrypt(plain)
		if err != nil {
			t.Fatalf("patch %d %s: encrypt: %v", patch, m.name, err)
		}
		if hex.EncodeToString(ct) != m.want {
			t.Fatalf("patch %d %s: encrypted %x, want %s", patch, m.name, ct, m.want)
		}
		if hex.EncodeToString(plain) != m.plain {
			t.Fatalf("%s: Encrypt modified its input", m.name)
		}
		pt, err := dec.Decrypt(ct)
		if err != nil || !bytes.Equal(pt, plain) {
			t.Fatalf("patch %d %s: decrypted %x, %v", patch, m.name, pt, err)
		}
		if hex.EncodeToString(ct) != m.want {
			t.Fatalf("%s: Decrypt modified its input", m.name)
		}
	}
}

// TestShortB: b = …6fb8 makes B 383 bytes; it is sent minimal and hashed
// unpadded in M (padded in u).
func TestShortB(t *testing.T) {
	c, d := vectorClient(t), vectorDevice(t, 1, vShortB)
	cmd0, _, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp0, _, err := d.Step(cmd0)
	if err != nil {
		t.Fatal(err)
	}
	dev := d.(*device)
	pubB := dev.pubB
	if len(pubB) != 383 || !strings.HasPrefix(hex.EncodeToString(pubB), "5c4de29a47331c08d7c5") ||
		!strings.HasSuffix(hex.EncodeToString(pubB), "82389ddd3438") {
		t.Fatalf("B = %x (%d bytes)", pubB, len(pubB))
	}
	// Resp0 as in §12.3 with the lengths shrunk by one: device_pubkey is
	// 12 ff 02 ‖ B(383).
	want0 := append(unhex(t, "1002629a030801aa01940312ff02"), pubB...)
	want0 = append(want0, unhex(t, "1a10", vSalt)...)
	if !bytes.Equal(resp0, want0) {
		t.Fatalf("Resp0 = %x", resp0)
	}
	if got := hex.EncodeToString(computeU(dev.pubA, pubB).Bytes()); got != vShortU {
		t.Fatalf("u = %s", got)
	}
	if got := hex.EncodeToString(dev.key); got != vShortK {
		t.Fatalf("K = %s", got)
	}
	wrong := hex.EncodeToString(computeM(dev.username, dev.salt, dev.pubA, pad(pubB), dev.key))
	if !strings.HasPrefix(wrong, "d08f00670c6303ec") || !strings.HasSuffix(wrong, "f55c0891") {
		t.Fatalf("M with padded B = %s, want the spec's wrong value", wrong)
	}
	runSteps(t, []step{
		{"client Cmd1", c, resp0, unhex(t, "100262470802b201420a40", vShortM), false},
		{"device Resp1", d, unhex(t, "100262470802b201420a40", vShortM),
			unhex(t, "100262550803ba01501240", vShortHA, "1a0c", vNonceID, "00000001"), true},
		{"client done", c, unhex(t, "100262550803ba01501240", vShortHA, "1a0c", vNonceID, "00000001"), nil, true},
	})
}
