package profile

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultCurves is the key exchange list used when none is set: X25519 then P-256, without
// the post-quantum hybrid X25519MLKEM768 that crypto/tls enables by default. The hybrid
// costs about 65 µs of extra server CPU per full handshake on the reference machine (a third
// more than the ~206 µs of an ECDSA P-256 + X25519 TLS 1.3 handshake, ARCHITECTURE.md §3), a
// 1184-byte larger key share in the ClientHello and 1088 bytes more in the ServerHello
// (ML-KEM-768 encapsulation key and ciphertext, FIPS 203 Table 3). At carrier handshake
// rates that is a capacity decision, so it is opt-in: list X25519MLKEM768 to enable it.
const DefaultCurves = "X25519:P-256"

// curveNames maps upper-cased names to curves: OpenSSL/OpenSIPS names (prime256v1,
// secp384r1, ...), RFC 8446 / IANA names (x25519, secp256r1) and crypto/tls's String()
// names (CurveP256).
var curveNames = map[string]tls.CurveID{
	"X25519": tls.X25519,
	"P-256":  tls.CurveP256, "PRIME256V1": tls.CurveP256, "SECP256R1": tls.CurveP256, "CURVEP256": tls.CurveP256,
	"P-384": tls.CurveP384, "SECP384R1": tls.CurveP384, "CURVEP384": tls.CurveP384,
	"P-521": tls.CurveP521, "SECP521R1": tls.CurveP521, "CURVEP521": tls.CurveP521,
	"X25519MLKEM768":     tls.X25519MLKEM768,
	"SECP256R1MLKEM768":  tls.SecP256r1MLKEM768,
	"SECP384R1MLKEM1024": tls.SecP384r1MLKEM1024,
}

// canonicalCurve is the name ParseCurves documents for each curve.
var canonicalCurve = map[tls.CurveID]string{
	tls.X25519: "X25519", tls.CurveP256: "P-256", tls.CurveP384: "P-384", tls.CurveP521: "P-521",
	tls.X25519MLKEM768: "X25519MLKEM768", tls.SecP256r1MLKEM768: "SecP256r1MLKEM768",
	tls.SecP384r1MLKEM1024: "SecP384r1MLKEM1024",
}

// unimplementedCurves are groups OpenSSL offers that crypto/tls does not.
var unimplementedCurves = map[string]bool{
	"X448": true, "P-224": true, "SECP224R1": true, "SECP256K1": true, "PRIME192V1": true, "SECP192R1": true,
	"BRAINPOOLP256R1": true, "BRAINPOOLP384R1": true, "BRAINPOOLP512R1": true,
	"BRAINPOOLP256R1TLS13": true, "BRAINPOOLP384R1TLS13": true, "BRAINPOOLP512R1TLS13": true,
	"FFDHE2048": true, "FFDHE3072": true, "FFDHE4096": true, "FFDHE6144": true, "FFDHE8192": true,
	"MLKEM512": true, "MLKEM768": true, "MLKEM1024": true, "X448MLKEM1024": true,
}

// CurveName is the name [ParseCurves] documents for a curve ("X25519", "P-256", ...), or
// the curve's crypto/tls String() for one it does not know.
func CurveName(id tls.CurveID) string {
	if n, ok := canonicalCurve[id]; ok {
		return n
	}
	return id.String()
}

// isHybrid reports a post-quantum hybrid: crypto/tls negotiates those in TLS 1.3 only.
func isHybrid(id tls.CurveID) bool {
	return id == tls.X25519MLKEM768 || id == tls.SecP256r1MLKEM768 || id == tls.SecP384r1MLKEM1024
}

// ParseCurves parses an OpenSIPS ec_curve style list of key exchange groups, separated by
// ':', ',' or ' ', into tls.Config.CurvePreferences. "" is [DefaultCurves]. Names are
// case-insensitive: X25519, P-256 (prime256v1, secp256r1), P-384 (secp384r1), P-521
// (secp521r1), X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024. A name listed twice
// counts once. Every unknown name is reported.
func ParseCurves(s string) ([]tls.CurveID, error) {
	tokens := splitList(s)
	if len(tokens) == 0 {
		tokens = splitList(DefaultCurves)
	}
	var (
		out  []tls.CurveID
		errs []error
	)
	for _, tok := range tokens {
		u := strings.ToUpper(tok)
		id, ok := curveNames[u]
		switch {
		case ok:
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		case unimplementedCurves[u]:
			errs = append(errs, fmt.Errorf("curve %q is not implemented by crypto/tls", tok))
		default:
			errs = append(errs, fmt.Errorf("unknown curve %q: want X25519, P-256, P-384, P-521, X25519MLKEM768, SecP256r1MLKEM768 or SecP384r1MLKEM1024", tok))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
