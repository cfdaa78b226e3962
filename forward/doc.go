// Package forward decides what happens to the clear text that tlsmux takes out of a TLS connection
// on its way to the SIP core.
//
// # Pipe mode
//
// The first (and for now only) mode is pipe mode: one backend TCP connection per client TLS
// connection. The reactor dials the core when the TLS handshake completes, writes the PROXY
// protocol header built by [AppendHeader] first (if one is configured), then moves clear text
// both ways without looking at it. The two connections live and die together: when one closes,
// the other is closed after its queued bytes are written.
//
// The core therefore sees one TCP connection per phone, and that is what SIP needs. A phone
// behind NAT cannot accept new connections, so the core must send its own requests (an INVITE
// for an incoming call, an OPTIONS keepalive, a NOTIFY) back over the connection the phone
// opened: RFC 3261 §18.2.2 sends responses over the connection the request came on, RFC 5923
// lets either side reuse a TLS connection for requests, and RFC 5626 (SIP outbound) builds
// registration flows on exactly this. Because each backend connection stands for one phone, a
// request the core writes on it goes to that phone and no other. The core must be set up to send
// requests for the phone over that existing connection (connection reuse, or outbound flows),
// never to dial the phone's address itself.
//
// The PROXY header tells the core who the phone is: its address and port (for Via
// received/rport, RFC 3581 §4, and for logging and access control) and, in version 2, the TLS
// facts the core would have seen had it terminated TLS itself: version, cipher, SNI, the client
// certificate's common name and whether it was verified, and optionally the certificate itself.
//
// # The PROXY header
//
// [AppendHeader] encodes the header as specified by the PROXY protocol document, versions 1 and
// 2 (haproxy doc/proxy-protocol.txt, 2020/03/05 revision; section numbers below refer to it).
// It is our own encoder, small and exact; the tests parse its output back with an independent
// implementation (github.com/pires/go-proxyproto).
//
//   - Version 1 (§2.1) is one line of text, "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" or
//     TCP6, at most 107 bytes. It carries addresses only: every TLS fact in [Facts] is dropped.
//   - Version 2 (§2.2) is binary: the 12-byte signature, command PROXY (0x21), family TCP over
//     IPv4 (0x11) or IPv6 (0x21), the address block, then TLVs: PP2_TYPE_AUTHORITY (0x02, the
//     SNI) and PP2_TYPE_SSL (0x20) holding the client bits, the verify result and the sub-TLVs
//     SSL_VERSION, SSL_CN, SSL_KEY_ALG, SSL_SIG_ALG and SSL_CIPHER, in the order HAProxy sends
//     them, then, when the caller asks for it (Facts.ClientCertDER), PP2_SUBTYPE_SSL_CLIENT_CERT
//     (0x28) with the client's DER certificate. That sub-TLV comes from the spec's 2026/01/15
//     revision ("the raw X.509 client certificate encoded in ASN.1 DER"); go-proxyproto's
//     PP2SSL.ClientCert reads it, and receivers that do not know it skip it, as §2.2 requires of
//     unknown types.
//
// Addresses: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack listener reports
// for an IPv4 client) is sent as the IPv4 address it stands for, and IPv6 zones are dropped (no
// PROXY format can carry one). When the source and destination are still of different families
// after that, or either is missing, the header cannot describe the connection: version 1 sends
// the short form "PROXY UNKNOWN\r\n" and version 2 sends command LOCAL with family AF_UNSPEC
// (0x20 0x00) and no address block, but still the TLVs. Both tell the receiver to use the real
// endpoints of the backend connection (§2.1, §2.2). PROXY with AF_UNSPEC is not used because the
// spec lets receivers reject it, and some do (go-proxyproto). HAProxy instead converts the IPv4
// side to an IPv4-mapped IPv6 address; we do not, because a phone's address that the core
// cannot match against its IPv4 ACLs and registrations is worse than an explicit "unknown".
//
// # Concurrency
//
// Everything in this package is a pure function of its arguments: safe to call from any
// goroutine, no I/O, no clock, no logging, no goroutines.
//
// # Usage
//
// On the reactor loop, once the handshake is done and the backend connection is dialled:
//
//	a := tc.Attrs() // tlsconn attributes
//	f := forward.Facts{
//		Src: clientAddr, Dst: listenAddr, TLS: true,
//		Version: forward.VersionName(a.Version), Cipher: forward.CipherName(a.CipherSuite),
//		SigAlg: info.SigAlg, KeyAlg: info.KeyAlg, // profile.Info of our certificate
//		SNI: a.SNI, ClientCN: a.PeerCN,
//		ClientCert: a.Peer != nil, Resumed: a.Resumed,
//		VerifyResult: verifyResult(a), // 0 only for a presented and verified certificate
//	}
//	if cfg.ProxyClientCert && a.Peer != nil {
//		f.ClientCertDER = a.Peer.DER() // tlsconn.Options.KeepPeerDER set
//	}
//	hdr, err := forward.AppendHeader(buf[:0], cfg.ProxyProtocol, f)
//	if errors.Is(err, forward.ErrClientCertTooLong) {
//		// count it, then send the header without the certificate
//		f.ClientCertDER = nil
//		hdr, err = forward.AppendHeader(buf[:0], cfg.ProxyProtocol, f)
//	}
//	if err != nil {
//		// a Facts value the header cannot carry: close both sides and count the reason
//	}
//	backend.Write(hdr) // first, in one write, before any clear text (§2: "sent at once")
//
// # Limitations
//
//   - Only pipe mode. The planned sip mode (many TLS flows over few backend connections, with
//     SIP framing and flow tokens) will live here too; a PROXY header cannot serve it, because
//     the spec forbids PROXY on multiplexed connections (§2).
//   - No PP2_TYPE_ALPN (SIP over TLS negotiates none), PP2_TYPE_UNIQUE_ID, PP2_TYPE_CRC32C,
//     PP2_TYPE_NETNS, nor the SSL sub-TLVs SSL_GROUP and SSL_SIG_SCHEME. They are easy to add
//     when a core wants them.
//   - PP2_SUBTYPE_SSL_CLIENT_CERT carries the leaf only, not the chain (the spec names "the
//     client certificate"). Where HAProxy itself places it among the sub-TLVs is not known to
//     us (we found no sender in its source); we send it last.
//   - The header is not limited to the 536 bytes the spec says a header fits in (§2): a long
//     client CN or SNI makes it longer, and a client certificate (typically 500 to 1,500 bytes
//     of DER) always does. Receivers cap it too (go-proxyproto accepts 4096 bytes after the
//     16-byte prefix by default): size the receiver for the largest certificate phones present.
//     [AppendHeader] only enforces the format's own 16-bit limits.
//   - No UDP or UNIX-socket families: pipe mode is TCP to TCP.
package forward
