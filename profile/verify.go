package profile

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Errors the handshake error wraps when a peer certificate is refused after crypto/tls verified
// its chain. Use errors.Is.
var (
	// ErrCertificateRevoked: a certificate of the chain is listed in a CRL of its issuer. The
	// error also wraps tls.AlertError(44) (certificate_revoked), but crypto/tls (Go 1.26) sends
	// bad_certificate (42) for every error VerifyConnection returns: see package doc.
	ErrCertificateRevoked = errors.New("profile: certificate revoked")
	// ErrCRLExpired: the CRLs of an issuer on the chain are all past their next update, so
	// revocation cannot be ruled out (OpenSSL's X509_V_ERR_CRL_HAS_EXPIRED).
	ErrCRLExpired = errors.New("profile: CRL expired")
	// ErrCRLUnavailable: crl or crl_dir is set and an issuer on the chain has no CRL in them
	// (OpenSSL's X509_V_ERR_UNABLE_TO_GET_CRL under X509_V_FLAG_CRL_CHECK_ALL).
	ErrCRLUnavailable = errors.New("profile: no CRL for the certificate's issuer")
	// ErrPeerIdentity: a server certificate does not name the SIP domain tlsmux connected to
	// (RFC 5922 §7.2).
	ErrPeerIdentity = errors.New("profile: server certificate does not name the expected SIP domain")
)

// alertCertificateRevoked is the alert RFC 8446 §6.2 names for a revoked certificate.
const alertCertificateRevoked = tls.AlertError(44)

// verifier checks peer certificates for one profile beyond what crypto/tls does: verify_depth,
// CRLs, and for client profiles the whole chain and the RFC 5922 identity. It is immutable
// once built (crlEntry.proven aside) and shared by every handshake of its profile.
type verifier struct {
	role       Role
	auth       peerAuth
	roots      *x509.CertPool // ca_list + ca_dir; nil if neither is set
	depth      int
	crls       *crlSet // nil: no revocation checking
	crlAll     bool    // crl_check_all: every certificate of the chain, not only the leaf
	wildcard   bool
	clock      func() time.Time
	serverName string // client profiles: the SIP domain expected when none is passed
}

// verifyClientConn is a server profile's VerifyConnection. crypto/tls has verified the chain
// against ClientCAs (VerifiedChains); this adds verify_depth and the CRLs. It runs on the
// handshake goroutine, on resumption too (crypto/tls calls VerifyConnection with the session's
// chains), so a certificate revoked after its session began cannot resume it.
func (v *verifier) verifyClientConn(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 {
		return nil // no certificate, or not verified (VerifyClientCertIfGiven without one)
	}
	return v.checkChains(cs.VerifiedChains, v.clock())
}

// checkChains accepts the peer if one of the chains is within verify_depth and passes the
// CRLs. Otherwise it reports a revocation before anything else, then the fewest intermediates
// for a depth problem.
func (v *verifier) checkChains(chains [][]*x509.Certificate, now time.Time) error {
	var (
		firstErr error
		fewest   = -1
	)
	for _, chain := range chains {
		n := max(len(chain)-2, 0) // leaf, intermediates..., anchor
		if n > v.depth {
			if fewest < 0 || n < fewest {
				fewest = n
			}
			continue
		}
		err := v.checkRevocation(chain, now)
		if err == nil {
			return nil
		}
		if firstErr == nil || errors.Is(err, ErrCertificateRevoked) && !errors.Is(firstErr, ErrCertificateRevoked) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return firstErr
	}
	// verify_depth as OpenSSL 1.1.0 and later count it: "with verify_depth = 0, ... errors at
	// depth=1 when the immediate issuer of the leaf certificate is not a trust anchor"
	// (crypto/x509/x509_vfy.c, build_chain).
	return fmt.Errorf("%w: %d intermediate CA certificates, verify_depth %d", ErrVerifyDepth, fewest, v.depth)
}

// checkRevocation checks every certificate of the chain but the trust anchor against the CRLs
// of its issuer (OpenSSL's CRL_CHECK_ALL, which Kamailio sets), or only the leaf when
// crl_check_all = no.
func (v *verifier) checkRevocation(chain []*x509.Certificate, now time.Time) error {
	if v.crls == nil {
		return nil
	}
	last := len(chain) - 1
	if !v.crlAll {
		last = min(last, 1)
	}
	for i := 0; i < last; i++ {
		if err := v.crls.check(chain[i], chain[i+1], now); err != nil {
			return err
		}
	}
	return nil
}

// verifyServerConn is a client profile's VerifyConnection. domain is the SIP domain tlsmux
// meant to reach ("": the SNI sent, else the profile's server_name).
func (v *verifier) verifyServerConn(cs tls.ConnectionState, domain string) error {
	if !v.auth.request {
		return nil // verification off: Kamailio's default for client profiles
	}
	if domain == "" {
		domain = cs.ServerName
	}
	if domain == "" {
		domain = v.serverName
	}
	err := v.verifyServerCert(cs.PeerCertificates, domain)
	if v.auth.noCA {
		return nil // optional_no_ca: the result is informational (CheckPeer)
	}
	return err
}

func (v *verifier) verifyServerCert(certs []*x509.Certificate, domain string) error {
	if len(certs) == 0 {
		return errors.New("profile: the server sent no certificate")
	}
	now := v.clock()
	opts := x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if opts.Roots == nil {
		return errors.New("profile: no ca_list or ca_dir to verify the server certificate against")
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	if err := v.checkChains(chains, now); err != nil {
		return err
	}
	if domain == "" {
		return fmt.Errorf("%w: none given and the profile sets no server_name", ErrPeerIdentity)
	}
	return MatchSIPDomain(certs[0], domain, v.wildcard)
}

// PeerStatus is what a profile concludes about the certificate a peer presented.
type PeerStatus struct {
	Present    bool  // the peer sent a certificate
	Verified   bool  // it chains to ca_list/ca_dir within verify_depth and passes the CRLs (and, for client profiles, names the domain)
	Revoked    bool  // a CRL lists it or a CA above it
	Expired    bool  // the leaf is past its NotAfter
	SelfSigned bool  // the leaf signed itself
	Err        error // why it is not verified
}

// CheckPeer verifies the peer certificate of a finished handshake against the profile,
// whatever its mode, without failing anything: for optional_no_ca, whose handshakes accept
// any certificate, it is how the connection learns what Kamailio's $tls_peer_verified says.
// In the other modes the handshake already refused a bad certificate, and CheckPeer reuses
// crypto/tls's verified chains. It costs one chain verification when crypto/tls did none:
// call it once, off the event loop, and only when the result is needed.
func (p *Profile) CheckPeer(cs *tls.ConnectionState) PeerStatus {
	var st PeerStatus
	if len(cs.PeerCertificates) == 0 {
		st.Err = errors.New("profile: no peer certificate")
		return st
	}
	leaf := cs.PeerCertificates[0]
	v := p.ver
	now := v.clock()
	st.Present = true
	st.Expired = now.After(leaf.NotAfter)
	st.SelfSigned = isSelfSigned(leaf)
	if v.role == RoleClient {
		st.Err = v.verifyServerCert(cs.PeerCertificates, cs.ServerName)
	} else {
		chains := cs.VerifiedChains
		if len(chains) == 0 {
			if v.roots == nil {
				st.Err = errors.New("profile: no ca_list or ca_dir to verify against")
				return st
			}
			opts := x509.VerifyOptions{Roots: v.roots, Intermediates: x509.NewCertPool(), CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			var err error
			if chains, err = leaf.Verify(opts); err != nil {
				st.Err = err
				return st
			}
		}
		st.Err = v.checkChains(chains, now)
	}
	st.Revoked = errors.Is(st.Err, ErrCertificateRevoked)
	st.Verified = st.Err == nil
	return st
}

// isSelfSigned reports a certificate whose issuer is its subject and whose signature its own
// key verifies (x509's CheckSignatureFrom would refuse a non-CA parent, hence CheckSignature).
func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// MatchSIPDomain checks that cert identifies the SIP domain, as RFC 5922 §7.1 and §7.2 say a
// client must before trusting a server for it:
//
//   - identities come from the subjectAltName: URIs with scheme "sip" and no user part (their
//     host), and DNS names; a URI of another scheme, or with a user part, is not an identity;
//   - only if the certificate has no subjectAltName at all is the subject CommonName used;
//   - names compare as DNS names, case-insensitively and in their entirety: no suffix match,
//     and no wildcard ("*.example.com" matches only itself), unless allowWildcard (the
//     match_wildcard key) lets a DNS name "*.example.com" match exactly one label in its place,
//     as RFC 6125 §6.4.3 describes; URI identities never match by wildcard;
//   - an IP literal domain matches an IP address SAN (RFC 5922 has no rule for IPs).
//
// The error wraps [ErrPeerIdentity] and lists the identities the certificate has.
func MatchSIPDomain(cert *x509.Certificate, domain string, allowWildcard bool) error {
	want := strings.ToLower(strings.TrimSuffix(domain, "."))
	if ip, err := netip.ParseAddr(strings.Trim(want, "[]")); err == nil {
		for _, a := range cert.IPAddresses {
			if got, ok := netip.AddrFromSlice(a); ok && got.Unmap() == ip.Unmap() {
				return nil
			}
		}
		return fmt.Errorf("%w %q: the certificate has no such IP address (it has %s)", ErrPeerIdentity, domain, identities(cert))
	}
	for _, u := range cert.URIs {
		if host, ok := sipURIHost(u.Scheme, u.Opaque, u.Host, u.User != nil); ok && strings.EqualFold(host, want) {
			return nil
		}
	}
	for _, n := range cert.DNSNames {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == want {
			return nil
		}
		if allowWildcard && strings.HasPrefix(n, "*.") {
			label, rest, ok := strings.Cut(want, ".")
			if ok && label != "" && rest == n[2:] && strings.Contains(rest, ".") {
				return nil
			}
		}
	}
	hasSAN := false
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidSubjectAltName) {
			hasSAN = true
		}
	}
	if !hasSAN && strings.EqualFold(strings.TrimSuffix(cert.Subject.CommonName, "."), want) {
		return nil // RFC 5922 §7.1 step 2: "if and only if the subjectAltName does not appear"
	}
	return fmt.Errorf("%w %q: the certificate names %s", ErrPeerIdentity, domain, identities(cert))
}

// sipURIHost returns the host of a "sip:" URI SAN if it is a domain identity (RFC 5922 §7.1:
// scheme sip, no user part; parameters and port are not part of the identity).
func sipURIHost(scheme, opaque, host string, hasUser bool) (string, bool) {
	if !strings.EqualFold(scheme, "sip") || hasUser {
		return "", false
	}
	h := opaque
	if h == "" {
		h = host // "sip://host" is not a SIP URI, but url.Parse files it there
	}
	if strings.Contains(h, "@") {
		return "", false
	}
	if i := strings.IndexAny(h, ";?"); i >= 0 {
		h = h[:i]
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[1:i], true
		}
		return "", false
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, "."), h != ""
}

func identities(c *x509.Certificate) string {
	var ids []string
	for _, u := range c.URIs {
		ids = append(ids, "URI:"+u.String())
	}
	for _, n := range c.DNSNames {
		ids = append(ids, "DNS:"+n)
	}
	for _, a := range c.IPAddresses {
		ids = append(ids, "IP:"+a.String())
	}
	if len(ids) == 0 {
		return fmt.Sprintf("no subjectAltName, CN %q", c.Subject.CommonName)
	}
	return strings.Join(ids, ", ")
}
