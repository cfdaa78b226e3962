package profile

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func TestParseCurves(t *testing.T) {
	tests := []struct {
		in   string
		want []tls.CurveID
		err  []string
	}{
		{in: "", want: []tls.CurveID{tls.X25519, tls.CurveP256}},
		{in: " : ", want: []tls.CurveID{tls.X25519, tls.CurveP256}},
		{in: "X25519:P-256", want: []tls.CurveID{tls.X25519, tls.CurveP256}},
		{in: "prime256v1,secp384r1 secp521r1", want: []tls.CurveID{tls.CurveP256, tls.CurveP384, tls.CurveP521}},
		{in: "p-384:x25519", want: []tls.CurveID{tls.CurveP384, tls.X25519}},
		{in: "x25519mlkem768:X25519", want: []tls.CurveID{tls.X25519MLKEM768, tls.X25519}},
		{in: "SecP256r1MLKEM768:SecP384r1MLKEM1024:P-256", want: []tls.CurveID{tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024, tls.CurveP256}},
		{in: "CurveP256:secp256r1:P-256", want: []tls.CurveID{tls.CurveP256}},
		{in: "X448", err: []string{`curve "X448" is not implemented by crypto/tls`}},
		{in: "X25519:brainpoolP256r1:ffdhe2048", err: []string{`"brainpoolP256r1" is not implemented`, `"ffdhe2048" is not implemented`}},
		{in: "P256:foo", err: []string{`unknown curve "P256"`, `unknown curve "foo"`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCurves(tt.in)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("no error: %v", got)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				if n := len(strings.Split(err.Error(), "\n")); n != len(tt.err) {
					t.Errorf("%d errors, want %d", n, len(tt.err))
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("= %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestDefaultCurvesHaveNoHybrid(t *testing.T) {
	got, err := ParseCurves("")
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(got, isHybrid) {
		t.Errorf("default %v includes a post-quantum hybrid", got)
	}
}

func FuzzParseCurves(f *testing.F) {
	for _, s := range []string{"", "X25519:P-256", "prime256v1,secp384r1", "X25519MLKEM768 x25519", "X448", "::,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseCurves(s)
		if err != nil {
			if got != nil {
				t.Fatalf("%q: error with result %v", s, got)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q: empty list without error", s)
		}
		var names []string
		for i, id := range got {
			if _, ok := canonicalCurve[id]; !ok || slices.Contains(got[:i], id) {
				t.Fatalf("%q: bad or repeated curve %v", s, id)
			}
			names = append(names, CurveName(id))
		}
		again, err := ParseCurves(strings.Join(names, ":"))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("%q: round trip = %v, %v; want %v", s, again, err, got)
		}
	})
}

// BenchmarkServerKeyShare measures the server's share of the TLS 1.3 key exchange, the part
// the curve list decides: X25519 alone, and X25519MLKEM768, which adds an ML-KEM-768
// encapsulation against the client's 1184-byte key (draft-ietf-tls-ecdhe-mlkem §3). The
// difference is the extra server CPU per handshake quoted in DefaultCurves.
func BenchmarkServerKeyShare(b *testing.B) {
	clientX, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	clientPub := clientX.PublicKey().Bytes()
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		b.Fatal(err)
	}
	clientEK := dk.EncapsulationKey().Bytes()
	x25519 := func() {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		peer, err := ecdh.X25519().NewPublicKey(clientPub)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.ECDH(peer); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("X25519", func(b *testing.B) {
		for b.Loop() {
			x25519()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/handshake")
	})
	b.Run("X25519MLKEM768", func(b *testing.B) {
		for b.Loop() {
			x25519()
			ek, err := mlkem.NewEncapsulationKey768(clientEK)
			if err != nil {
				b.Fatal(err)
			}
			ek.Encapsulate()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/handshake")
	})
}
