package tlsconn

import (
	"crypto/tls"
	"time"
)

// Attrs are the facts of an established connection that the SIP side may want: what Kamailio's
// tls module exposes as $tls_* pseudo-variables and @tls.* selects, OpenSIPS's tls_mgm as $tls_*
// variables, and HAProxy in its PROXY protocol v2 TLVs. attrs.md maps every variable to the field
// or method that gives it.
//
// The record is computed once, on the loop, when the handshake completes (Poll), from crypto/tls's
// ConnectionState; it keeps no parsed *x509.Certificate, only what the variables need (see
// CertInfo). Attrs values are copies: the CertInfo they point to is shared and immutable.
type Attrs struct {
	// From the handshake.
	Version     uint16      // tls.VersionTLS12, tls.VersionTLS13, ...
	CipherSuite uint16      // IANA id, e.g. tls.TLS_AES_128_GCM_SHA256
	CurveID     tls.CurveID // key exchange group (0 for TLS 1.2 resumption without ECDHE)
	Resumed     bool        // the session was resumed from a ticket
	// Verified: the peer presented a certificate and crypto/tls verified its chain
	// (ConnectionState.VerifiedChains is not empty). On resumption, the verification of the
	// handshake that created the session, which crypto/tls keeps in the ticket.
	Verified bool
	// PeerExpired: the peer's leaf certificate had expired (its notAfter was before Options.Now)
	// when the handshake completed. Only a server that does not verify client certificates, or
	// verifies them against another clock, lets such a peer in. False when Options.Now and
	// tls.Config.Time are both nil: tlsconn reads no clock.
	PeerExpired bool
	// PeerRevoked: the peer's certificate is revoked, as the caller's revocation check (CRLs of
	// the profile) found and reported with SetPeerRevoked. crypto/tls knows nothing of CRLs.
	PeerRevoked bool

	SNI  string // server_name the client sent, as crypto/tls accepted it ("" if none)
	ALPN string // negotiated protocol ("" if none)
	// PeerCN is Peer.Subject().CN(): the first common name of the peer's subject, UTF-8 ("" if
	// none). Kept as a field because the logs and the PROXY header read it on every connection.
	PeerCN string
	// Profile is the name of the TLS profile that served the connection, as the caller set it
	// with SetProfile ("" if not set).
	Profile string

	// Peer describes the leaf certificate the peer presented; nil if it sent none (a server sees
	// one only if it asked: tls.Config.ClientAuth). On a resumed session it is the certificate of
	// the session, which crypto/tls restores from the ticket. Shared; do not modify.
	Peer *CertInfo
	// Local describes our own certificate, as the caller set it with SetProfile (crypto/tls does
	// not say which certificate it sent); nil if not set. Shared; do not modify.
	Local *CertInfo
}

// Attrs returns the connection's facts once the handshake has completed (Established, and after
// that until Close's caller drops the Conn); before, the zero Attrs. It copies a record computed
// once when Poll saw the handshake complete: it allocates nothing and reads nothing of crypto/tls.
func (c *Conn) Attrs() Attrs {
	if !c.handshook || c.attrs == nil {
		return Attrs{}
	}
	return *c.attrs
}

// SetProfile records the name of the TLS profile that served the connection and the CertInfo of
// the certificate it presented (NewCertInfo, made once per certificate when the profile is
// loaded and shared by every connection), which Attrs reports as Profile and Local. Either may
// be zero. It may be called at any time, before or after the handshake. Loop only.
func (c *Conn) SetProfile(name string, local *CertInfo) {
	a := c.attrsForUpdate()
	a.Profile, a.Local = name, local
}

// SetPeerRevoked records the result of the caller's revocation check of the peer's certificate
// (Attrs.PeerRevoked, $tls_peer_revoked). Loop only.
func (c *Conn) SetPeerRevoked(revoked bool) {
	c.attrsForUpdate().PeerRevoked = revoked
}

func (c *Conn) attrsForUpdate() *Attrs {
	if c.attrs == nil {
		c.attrs = new(Attrs)
	}
	return c.attrs
}

// computeAttrs fills the record from crypto/tls when the handshake has completed. Called once, on
// the loop, by Poll: the tls.Conn is the loop's from then on, so ConnectionState does not block.
// What the caller set before (SetProfile, SetPeerRevoked) is kept.
func (c *Conn) computeAttrs() {
	cs := c.tc.ConnectionState()
	a := c.attrsForUpdate()
	a.Version = cs.Version
	a.CipherSuite = cs.CipherSuite
	a.CurveID = cs.CurveID
	a.Resumed = cs.DidResume
	a.Verified = len(cs.PeerCertificates) > 0 && len(cs.VerifiedChains) > 0
	a.SNI = cs.ServerName
	a.ALPN = cs.NegotiatedProtocol
	if len(cs.PeerCertificates) == 0 {
		return
	}
	leaf := cs.PeerCertificates[0]
	a.Peer = NewCertInfo(leaf, c.keepPeerDER)
	a.PeerCN = a.Peer.Subject().CN()
	if now, ok := c.clock(); ok {
		a.PeerExpired = now.After(leaf.NotAfter)
	}
}

// clock is the time the handshake completed, for PeerExpired: Options.Now, else the tls.Config's
// Time (the clock crypto/tls verified against), else none.
func (c *Conn) clock() (time.Time, bool) {
	switch {
	case c.now != nil:
		return c.now(), true
	case c.cfg.Time != nil:
		return c.cfg.Time(), true
	}
	return time.Time{}, false
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
// "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" (tls.CipherSuiteName); "" for none. The OpenSSL
// name, which Kamailio and HAProxy show, is CipherOpenSSLName.
func (a Attrs) CipherName() string {
	if a.CipherSuite == 0 {
		return ""
	}
	return tls.CipherSuiteName(a.CipherSuite)
}

// CipherOpenSSLName returns the cipher suite as OpenSSL names it (SSL_CIPHER_get_name), which is
// Kamailio's $tls_cipher_info: "ECDHE-ECDSA-AES128-GCM-SHA256", or for TLS 1.3 the IANA name
// "TLS_AES_128_GCM_SHA256". For a suite crypto/tls does not implement it falls back to
// CipherName; "" for none.
func (a Attrs) CipherOpenSSLName() string {
	if s := suiteByID(a.CipherSuite); s != nil {
		return s.name
	}
	return a.CipherName()
}

// CipherBits returns the strength of the cipher in bits as OpenSSL counts it
// (SSL_CIPHER_get_bits, Kamailio's $tls_cipher_bits): 128 for AES-128, 256 for AES-256 and
// ChaCha20, 112 for 3DES; 0 for none or an unknown suite.
func (a Attrs) CipherBits() int {
	if s := suiteByID(a.CipherSuite); s != nil {
		return int(s.bits)
	}
	return 0
}

// CipherDescription returns the line OpenSSL 3's SSL_CIPHER_description writes for the suite,
// which is Kamailio's $tls_description, without its trailing newline:
//
//	TLS_AES_128_GCM_SHA256         TLSv1.3 Kx=any      Au=any   Enc=AESGCM(128)            Mac=AEAD
//
// The columns are the OpenSSL name, the oldest protocol version the suite is defined for (not
// the version negotiated), key exchange, authentication, encryption and MAC; "" for none or an
// unknown suite. Other OpenSSL versions pad the columns differently.
func (a Attrs) CipherDescription() string {
	s := suiteByID(a.CipherSuite)
	if s == nil {
		return ""
	}
	return s.description()
}
