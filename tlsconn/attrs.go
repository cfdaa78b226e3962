package tlsconn

import (
	"crypto/tls"
	"crypto/x509"
)

// Attrs are the facts of an established connection that the SIP side may want (Kamailio's $tls_*
// pseudo-variables, the PROXY protocol v2 TLS TLVs).
type Attrs struct {
	Version     uint16 // tls.VersionTLS12, tls.VersionTLS13, ...
	CipherSuite uint16 // IANA id, e.g. tls.TLS_AES_128_GCM_SHA256
	SNI         string // server name the client asked for ("" if none)
	ALPN        string // negotiated protocol ("" if none)
	Resumed     bool   // the session was resumed from a ticket
	// PeerCertificates is the chain the peer presented, leaf first, as crypto/tls keeps it
	// (shared, do not modify). A server sees one only if it asked (tls.Config.ClientAuth).
	PeerCertificates []*x509.Certificate
	PeerCN           string      // subject common name of the peer's leaf ("" if none)
	Verified         bool        // the peer's chain was verified (tls.ConnectionState.VerifiedChains)
	CurveID          tls.CurveID // key exchange group (0 for TLS 1.2 resumption without ECDHE)
}

// Attrs returns the connection's facts once the handshake has completed (Established, and after
// that until Close's caller drops the Conn); before, the zero Attrs. It reads
// tls.Conn.ConnectionState on the loop: during the handshake that call would block on the
// handshake goroutine's lock (research §2), which is why there is no Attrs before.
func (c *Conn) Attrs() Attrs {
	if !c.handshook {
		return Attrs{}
	}
	cs := c.tc.ConnectionState()
	a := Attrs{
		Version:          cs.Version,
		CipherSuite:      cs.CipherSuite,
		SNI:              cs.ServerName,
		ALPN:             cs.NegotiatedProtocol,
		Resumed:          cs.DidResume,
		PeerCertificates: cs.PeerCertificates,
		Verified:         len(cs.VerifiedChains) > 0,
		CurveID:          cs.CurveID,
	}
	if len(cs.PeerCertificates) > 0 {
		a.PeerCN = cs.PeerCertificates[0].Subject.CommonName
	}
	return a
}

// VersionName returns the version as OpenSSL names it (SSL_get_version, hence Kamailio's
// $tls_version and HAProxy's PP2_SUBTYPE_SSL_VERSION): "TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1";
// "" for none.
func (a Attrs) VersionName() string {
	switch a.Version {
	case 0:
		return ""
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return tls.VersionName(a.Version)
}

// CipherName returns the IANA name of the cipher suite, e.g.
// "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" (tls.CipherSuiteName); "" for none. The OpenSSL-style
// names HAProxy sends are forward.CipherName's business.
func (a Attrs) CipherName() string {
	if a.CipherSuite == 0 {
		return ""
	}
	return tls.CipherSuiteName(a.CipherSuite)
}
