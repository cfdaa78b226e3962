// Package profile builds the *tls.Config values tlsmux terminates (and, later, originates) SIP
// over TLS with, from Kamailio's tls.cfg and from flags named after Kamailio's tls module
// parameters (and OpenSIPS's ec_curve), so that an operator's tls.cfg knowledge carries over.
// It picks a profile per connection (local address, then SNI), verifies peers as Kamailio's
// verify_client modes say, checks CRLs, and reloads everything atomically. The tls.cfg
// grammar, the matching rules, the ticket key file format and the OpenSIPS tls_mgm mapping are
// in spec.md beside this file.
//
// Usage, one server profile from flags:
//
//	cfg, info, err := profile.Server{
//		Certificate:        "/etc/tlsmux/fullchain.pem",
//		PrivateKey:         "/etc/tlsmux/key.pem",
//		CAList:             "/etc/tlsmux/phones-ca.pem",
//		RequireCertificate: true,
//		CipherList:         "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
//	}.Build(time.Now(), nil)
//	if err != nil { ... }                  // errors.Join of *SettingError, one per problem
//	for _, w := range info.Warnings { ... } // log them
//	if info.Generated { ... }               // warn: self-signed, quote info.Fingerprint
//
// Usage, a tls.cfg with reload:
//
//	st, err := profile.NewStore(profile.Options{File: "/etc/tlsmux/tls.cfg",
//		TicketKeys: "/etc/tlsmux/tickets.keys", Default: flagsServer})
//	if err != nil { ... }                   // every problem, file:line each (*ConfigError)
//	go st.Watch(ctx, profile.DefaultWatchInterval, logReload)
//	// SIGHUP: ch, err := st.Reload()
//
//	// accepting a connection (event loop): no allocation
//	set := st.Current()
//	cfg := set.ServerConfig(localAddrPort)  // GetConfigForClient refines by SNI
//	// after the handshake, which profile served it:
//	p := set.Match(localAddrPort, state.ServerName)
//
// # Mapping
//
// Each Kamailio parameter, the [Server] field and flag that carry it, and what Build sets:
//
//	Kamailio (tls.cfg)    Server field        flag                  crypto/tls
//	--------------------  ------------------  --------------------  ----------------------------------------
//	certificate           Certificate         -certificate          Config.Certificates[0] (chain as in the file)
//	private_key           PrivateKey          -private-key          Certificates[0].PrivateKey ("": in certificate)
//	ca_list               CAList              -ca-list              Config.ClientCAs
//	verify_certificate    VerifyCertificate   -verify-certificate   Config.ClientAuth (below)
//	require_certificate   RequireCertificate  -require-certificate  Config.ClientAuth (below)
//	verify_depth          VerifyDepth         -verify-depth         Config.VerifyConnection (chain length check)
//	cipher_list           CipherList          -cipher-list          Config.CipherSuites (TLS 1.0–1.2 only)
//	tls_method / method   TLSMethod           -tls-method           Config.MinVersion, Config.MaxVersion
//	ec_curve (OpenSIPS)   Curves              -curves               Config.CurvePreferences
//	session_cache         SessionCache        -session-cache        !Config.SessionTicketsDisabled
//
// tls.cfg sections add ca_dir (Kamailio's ca_path), crl, crl_dir, crl_check_all, verify_client,
// server_name, server_name_mode, server_id and match_wildcard (spec.md).
//
// Client certificates, following Kamailio's tls_domain.c (set_verification), which ORs
// verify_client with the two booleans:
//
//	verify_client   verify_certificate  require_certificate  Config.ClientAuth
//	--------------  ------------------  -------------------  --------------------------
//	off / unset     no                  no                   NoClientCert
//	optional        yes                 no                   VerifyClientCertIfGiven
//	on              any                 yes                  RequireAndVerifyClientCert
//	optional_no_ca  -                   no                   RequestClientCert
//	optional_no_ca  -                   yes                  RequireAnyClientCert
//
// When a client certificate is refused, the client sees the alert crypto/tls sends: none sent
// under TLS 1.3 → certificate_required (116, RFC 8446 §4.4.2.4); none sent under TLS 1.2 →
// handshake_failure (40); not issued by a CA in ca_list/ca_dir → unknown_ca (48); expired →
// certificate_expired (45); chain longer than verify_depth → bad_certificate (42), wrapping
// [ErrVerifyDepth] on the server side; revoked, or its CRL expired or missing → bad_certificate
// (42), wrapping [ErrCertificateRevoked], [ErrCRLExpired] or [ErrCRLUnavailable].
//
// optional_no_ca accepts any certificate, as Kamailio's verify_callback_unconditional_success
// does: crypto/tls verifies nothing, so the connection's VerifiedChains is empty and tlsconn
// reports it unverified; [Profile.CheckPeer] gives the opportunistic result (Kamailio's
// $tls_peer_verified) for those who need it.
//
// # Which profile served a connection
//
// crypto/tls does not tell which *tls.Config GetConfigForClient returned. [Set.Match] recomputes
// it from the same inputs (local address, ConnectionState.ServerName) on the same *Set: keep the
// Set pointer the config came from with the connection (8 bytes), and call Match after the
// handshake only when the profile is needed (attributes, logs, PROXY TLVs). Wrapping
// VerifyConnection or GetCertificate per profile could not report it: they run inside the
// handshake and have nowhere per-connection to write without allocating a config per
// connection.
//
// # Session tickets
//
// Every server profile's config gets explicit ticket keys, derived per profile from the
// -ticket-keys file (or, without one, from keys the [Store] keeps in memory and rotates daily
// with RotateTicketKeys), so tickets survive reloads, work across instances sharing the file,
// never resume under another profile, and are retired when a profile's CAs or verification
// change. Explicit keys matter: crypto/tls otherwise uses the keys of the config it called
// GetConfigForClient on, shared by every profile behind one address and remade at each reload.
// A resumed session passes VerifyConnection again, so a certificate revoked since is refused.
//
// Concurrency: [Server], [Info], [Settings] and [Change] are plain values. Build, [Load],
// [NewStore], [Store.Reload] and [Store.Watch] read files: keep them off the event loop.
// [Store.Current], [Set.ServerConfig], [Set.Match] and [Set.Client] are safe from any goroutine
// and do not allocate (Client does, for a server_id); a Set and its Profiles are immutable, and
// their *tls.Config values may serve any number of concurrent handshakes and must not be
// modified. The parsers are pure functions, safe for concurrent use.
//
// # Limitations
//
//   - TLS 1.3 cipher suites cannot be configured in Go: their names are accepted and
//     validated in cipher_list, and all three stay enabled.
//   - The order of cipher_list is ignored: crypto/tls picks suites by its own preference
//     (AES-GCM first when the CPU has AES instructions, ChaCha20 otherwise).
//   - Keywords DEFAULT, HIGH and ALL mean crypto/tls's secure default set; OpenSSL classes
//     never select suites crypto/tls lists as insecure (RC4, 3DES, CBC-SHA256, RSA key
//     exchange): those must be named one by one, and each draws a warning.
//   - Suites and groups OpenSSL has and crypto/tls lacks (finite-field DHE, CCM, CAMELLIA,
//     X448, brainpool, ...) cannot be used; recognised suite names are skipped with a warning.
//   - Encrypted private keys are refused (Kamailio prompts for a passphrase on the terminal).
//   - A revoked client certificate is refused with bad_certificate (42), not certificate_revoked
//     (44): crypto/tls (Go 1.26) sends bad_certificate for every error VerifyConnection returns.
//     The error still wraps tls.AlertError(44).
//   - CRLs: complete CRLs only (no delta CRLs, no issuing distribution points, no OCSP); an
//     expired CRL refuses the certificates it covers (as OpenSSL does) until a current one is
//     loaded; CRLs are re-read on reload only, not fetched.
//   - As in Kamailio, server profiles check client certificates against ca_list/ca_dir only:
//     their names (CN, SANs) are not matched against anything. Client profiles do check the
//     server's name (RFC 5922), which Kamailio does not.
//   - Kamailio's [server:IP:0] (any port) is refused: list each port, or use [server:any].
//   - A tls.cfg that is a directory (Kamailio concatenates its files) is not supported.
//   - Flags' [Server] has no way to say verify_depth 0 (0 means "default (9)"); tls.cfg can.
//   - A generated self-signed certificate changes at every start (not at reloads): clients
//     that pin it must pin again after a restart.
package profile
