package tlsconn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Test PKI for the attribute tests: an issuing CA with a plain subject, and leaves described by
// leafSpec. Everything is ECDSA P-256 and made once per test binary.

var (
	attrCAKey  *ecdsa.PrivateKey
	attrCA     *x509.Certificate
	attrCAPool *x509.CertPool
)

func init() {
	var err error
	attrCAKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{Country: []string{"AT"}, Organization: []string{"tlsmux test CA"}, CommonName: "Phone CA 1"},
		NotBefore:             time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &attrCAKey.PublicKey, attrCAKey)
	if err != nil {
		panic(err)
	}
	if attrCA, err = x509.ParseCertificate(der); err != nil {
		panic(err)
	}
	attrCAPool = x509.NewCertPool()
	attrCAPool.AddCert(attrCA)
}

// rdnAttr is one attribute of a hand-built name: its type, ASN.1 string tag and raw value bytes.
type rdnAttr struct {
	oid asn1.ObjectIdentifier
	tag int
	val string
}

var (
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidST    = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidL     = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidUID   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidOdd   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
)

// rawName encodes RDNs (each a SET of one or more attributes) as a DER Name, with exactly the
// string types given, which pkix.Name cannot do.
func rawName(rdns ...[]rdnAttr) []byte {
	var seq []byte
	for _, rdn := range rdns {
		var set []byte
		for _, a := range rdn {
			b, err := asn1.Marshal(struct {
				T asn1.ObjectIdentifier
				V asn1.RawValue
			}{a.oid, asn1.RawValue{Tag: a.tag, Bytes: []byte(a.val)}})
			if err != nil {
				panic(err)
			}
			set = append(set, b...)
		}
		b, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: set})
		seq = append(seq, b...)
	}
	b, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: seq})
	return b
}

// richSubject exercises every rule of X509_NAME_oneline and ASN1_STRING_to_UTF8 that crypto/x509
// lets through: a T61String read as Latin-1, a BMPString, "/" and "+" in a value, two OUs and two
// CNs (the first wins), a multi-valued RDN, emailAddress and an OID OpenSSL has no name for.
var richSubject = rawName(
	[]rdnAttr{{oidC, asn1.TagPrintableString, "AT"}},
	[]rdnAttr{{oidST, asn1.TagT61String, "K\xe4rnten"}},
	[]rdnAttr{{oidL, asn1.TagBMPString, "\x00G\x00r\x00a\x00z"}},
	[]rdnAttr{{oidO, asn1.TagUTF8String, "enum.at/Phones+Lab"}},
	[]rdnAttr{{oidOU, asn1.TagUTF8String, "Provisioning"}},
	[]rdnAttr{{oidOU, asn1.TagUTF8String, "Lab"}},
	[]rdnAttr{{oidCN, asn1.TagUTF8String, "phone-1001"}, {oidUID, asn1.TagUTF8String, "u1001"}},
	[]rdnAttr{{oidCN, asn1.TagUTF8String, "Jürgen"}},
	[]rdnAttr{{oidEmail, asn1.TagIA5String, "alice@example.net"}},
	[]rdnAttr{{oidOdd, asn1.TagUTF8String, "x y"}},
)

// What OpenSSL 3's X509_NAME_oneline prints for richSubject, written by hand from
// crypto/x509/x509_obj.c; TestOnelineOpenSSL has openssl itself confirm it.
const (
	richSubjectLine = `/C=AT/ST=K\xE4rnten/L=\x00G\x00r\x00a\x00z/O=enum.at\/Phones\+Lab/OU=Provisioning/OU=Lab` +
		`/CN=phone-1001+UID=u1001/CN=J\xC3\xBCrgen/emailAddress=alice@example.net/1.3.6.1.4.1.99999.1=x y`
	caLine = "/C=AT/O=tlsmux test CA/CN=Phone CA 1"
)

type leafSpec struct {
	rawSubject          []byte
	subject             pkix.Name
	serial              *big.Int
	emails, dns         []string
	uris                []string
	ips                 []string
	notBefore, notAfter time.Time
	selfSigned          bool
	skid, akid          []byte
}

// richSpec is a phone certificate with a rich subject and several SANs of each kind.
func richSpec() leafSpec {
	serial, _ := new(big.Int).SetString("1267650600228229401496703205381", 10) // 2^100 + 5
	return leafSpec{
		rawSubject: richSubject,
		serial:     serial,
		emails:     []string{"alice@example.net", "a.lice@example.org"},
		dns:        []string{"phone-1001.example.net", "*.phones.example.net", "p1001.example.org"},
		uris:       []string{"sip:1001@example.net", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
		ips:        []string{"192.0.2.10", "2001:db8::10", "::ffff:198.51.100.7"},
		notBefore:  time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
		notAfter:   time.Date(2199, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// phoneSpec is a typical phone certificate, the one the size figures are for: C, O, OU, CN, one
// SIP URI, one DNS name and one email address.
func phoneSpec() leafSpec {
	return leafSpec{
		subject: pkix.Name{Country: []string{"DE"}, Organization: []string{"Example Telecom GmbH"},
			OrganizationalUnit: []string{"Phones"}, CommonName: "1001.phones.example.net"},
		serial:    new(big.Int).Lsh(big.NewInt(0x5a5a5a5a), 96),
		emails:    []string{"1001@example.net"},
		dns:       []string{"1001.phones.example.net"},
		uris:      []string{"sip:1001@example.net"},
		notBefore: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
		notAfter:  time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (s leafSpec) issue(tb testing.TB) (tls.Certificate, *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   s.serial,
		RawSubject:     s.rawSubject,
		Subject:        s.subject,
		EmailAddresses: s.emails,
		DNSNames:       s.dns,
		NotBefore:      s.notBefore,
		NotAfter:       s.notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SubjectKeyId:   s.skid,
		AuthorityKeyId: s.akid, // used by crypto/x509 only when subject = issuer
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(42)
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	parent, signer := attrCA, any(attrCAKey)
	if s.selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// mtlsConfigs makes the configs of a tlsconn server and a Go client presenting cert; verify
// says whether the server verifies it against attrCA.
func mtlsConfigs(cert tls.Certificate, verify bool) (srv, cli *tls.Config) {
	srv, cli = serverConfig(), clientConfig()
	if verify {
		srv.ClientAuth = tls.RequireAndVerifyClientCert
		srv.ClientCAs = attrCAPool
	} else {
		srv.ClientAuth = tls.RequireAnyClientCert
	}
	cli.Certificates = []tls.Certificate{cert}
	return srv, cli
}

// mtlsHandshake runs a handshake with mtlsConfigs (tweak may change them) and returns the
// established test connection.
func mtlsHandshake(t *testing.T, cert tls.Certificate, verify bool, o Options, tweak func(srv, cli *tls.Config)) *testConn {
	t.Helper()
	srv, cli := mtlsConfigs(cert, verify)
	if tweak != nil {
		tweak(srv, cli)
	}
	tc := newServerTest(t, srv, cli, o)
	tc.handshake()
	return tc
}

// TestAttrsRichCertificate: a verified client with a rich subject and SANs of every kind. Every
// $tls_* variable Kamailio's tls module defines (tls_select.c, tls_pv[]) is checked through Var,
// which is built on the fields and methods, so this covers each of them once.
func TestAttrsRichCertificate(t *testing.T) {
	cert, leaf := richSpec().issue(t)
	local := NewCertInfo(serverCert.Leaf, true)
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
				tc := mtlsHandshake(t, cert, true, Options{Now: func() time.Time { return now }}, func(srv, cli *tls.Config) {
					cli.MaxVersion = vers
					cli.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
				})
				tc.c.SetProfile("sip.example.test", local)
				a := tc.c.Attrs()
				if !a.Verified || a.PeerExpired || a.PeerRevoked || a.Resumed || a.Profile != "sip.example.test" || a.Local != local {
					t.Fatalf("Attrs = %+v", a)
				}
				if a.PeerCN != "phone-1001" {
					t.Errorf("PeerCN %q, want the first CN", a.PeerCN)
				}
				p := a.Peer
				if p.Version() != 3 || p.SelfSigned() || p.Truncated() || p.DER() != nil {
					t.Errorf("peer: version %d self-signed %v truncated %v DER %d bytes",
						p.Version(), p.SelfSigned(), p.Truncated(), len(p.DER()))
				}
				if !p.NotBefore().Equal(leaf.NotBefore) || !p.NotAfter().Equal(leaf.NotAfter) {
					t.Errorf("validity %v..%v, want %v..%v", p.NotBefore(), p.NotAfter(), leaf.NotBefore, leaf.NotAfter)
				}
				s := p.Subject()
				comps := []string{s.CN(), s.Locality(), s.Country(), s.State(), s.Organization(), s.Unit(), s.UID()}
				want := []string{"phone-1001", "Graz", "AT", "Kärnten", "enum.at/Phones+Lab", "Provisioning", "u1001"}
				if !slices.Equal(comps, want) {
					t.Errorf("subject components %q, want %q", comps, want)
				}
				for kind, want := range map[SANKind][]string{
					SANEmail: {"alice@example.net", "a.lice@example.org"},
					SANDNS:   {"phone-1001.example.net", "*.phones.example.net", "p1001.example.org"},
					SANURI:   {"sip:1001@example.net", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
					// crypto/x509 encodes an IPv4-mapped address in 4 bytes.
					SANIP: {"192.0.2.10", "2001:db8::10", "198.51.100.7"},
				} {
					if got := p.SANs(kind); !slices.Equal(got, want) {
						t.Errorf("SANs(%d) = %q, want %q", kind, got, want)
					}
				}

				suite := "ECDHE-ECDSA-AES256-GCM-SHA384"
				desc := "ECDHE-ECDSA-AES256-GCM-SHA384  TLSv1.2 Kx=ECDH     Au=ECDSA Enc=AESGCM(256)            Mac=AEAD\n"
				version := "TLSv1.2"
				if vers == tls.VersionTLS13 {
					suite, version = "TLS_AES_128_GCM_SHA256", "TLSv1.3"
					desc = "TLS_AES_128_GCM_SHA256         TLSv1.3 Kx=any      Au=any   Enc=AESGCM(128)            Mac=AEAD\n"
				}
				bits := "256"
				if vers == tls.VersionTLS13 {
					bits = "128"
				}
				localPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverCert.Leaf.Raw}))
				vars := map[string]string{
					"tls_version":                       version,
					"tls_description":                   desc,
					"tls_cipher_info":                   suite,
					"tls_cipher_bits":                   bits,
					"tls_peer_version":                  "2",
					"tls_my_version":                    "2",
					"tls_peer_serial":                   "1267650600228229401496703205381",
					"tls_my_serial":                     serverCert.Leaf.SerialNumber.String(),
					"tls_peer_subject":                  richSubjectLine,
					"tls_peer_issuer":                   caLine,
					"tls_my_subject":                    "/CN=tlsmux test server",
					"tls_my_issuer":                     "/CN=tlsmux test server",
					"tls(p_subject_line)":               richSubjectLine,
					"tls(p_issuer_line)":                caLine,
					"tls(m_subject_line)":               "/CN=tlsmux test server",
					"tls(m_issuer_line)":                "/CN=tlsmux test server",
					"tls_peer_subject_cn":               "phone-1001",
					"tls_peer_issuer_cn":                "Phone CA 1",
					"tls_my_subject_cn":                 "tlsmux test server",
					"tls_my_issuer_cn":                  "tlsmux test server",
					"tls_peer_subject_locality":         "Graz",
					"tls_peer_subject_country":          "AT",
					"tls_peer_issuer_country":           "AT",
					"tls_peer_subject_state":            "Kärnten",
					"tls_peer_subject_organization":     "enum.at/Phones+Lab",
					"tls_peer_issuer_organization":      "tlsmux test CA",
					"tls_peer_subject_unit":             "Provisioning",
					"tls_peer_subject_uid":              "u1001",
					"tls_peer_san_email":                "alice@example.net",
					"tls_peer_san_email[1]":             "a.lice@example.org",
					"tls_peer_san_hostname":             "phone-1001.example.net",
					"tls_peer_san_hostname[2]":          "p1001.example.org",
					"tls_peer_san_uri":                  "sip:1001@example.net",
					"tls_peer_san_uri[1]":               "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
					"tls_peer_san_ip":                   "192.0.2.10",
					"tls_peer_san_ip[1]":                "2001:db8::10",
					"tls_peer_san_count(EMAIL)":         "2",
					"tls_peer_san_count(DNS)":           "3",
					"tls_peer_san_count(URI)":           "2",
					"tls_peer_san_count(IP)":            "3",
					"tls_my_san_hostname":               serverName,
					"tls_my_san_count(DNS)":             "1",
					"tls_my_san_count(URI)":             "0",
					"tls_my_raw_cert":                   localPEM,
					"tls_peer_verified":                 "1",
					"tls_peer_revoked":                  "0",
					"tls_peer_expired":                  "0",
					"tls_peer_selfsigned":               "0",
					"tls_peer_notBefore":                "Dec 31 00:00:00 1999 GMT",
					"tls_peer_notAfter":                 "Jan  2 03:04:05 2199 GMT",
					"tls_peer_server_name":              serverName,
					"$tls_peer_subject_cn":              "phone-1001",
					"tls_peer_issuer_locality":          "",
					"tls_peer_issuer_state":             "",
					"tls_peer_issuer_unit":              "",
					"tls_my_subject_locality":           "",
					"tls_my_subject_organization":       "",
					"tls_my_subject_uid":                "",
					"tls_my_san_email":                  "",
					"tls_my_san_uri":                    "",
					"tls_my_san_ip":                     "",
					"tls_peer_raw_cert":                 "", // not kept: Options.KeepPeerDER is off
					"tls_peer_san_email[2]":             "",
					"tls_peer_subject_cn[1]":            "",
					"tls_peer_urlencoded_cert":          "",
					"tls_peer_san_count":                "",
					"tls_peer_issuer_uid":               "", // Kamailio has no such variable
					"tls_peer_nonsense":                 "",
					"tls_peer_san_hostname[x]":          "",
					"tls_peer_san_count(DNS":            "",
					"tls_my_issuer_organization":        "",
					"tls_peer_subject_organization[0]":  "",
					"tls_peer_subject_organizationunit": "",
				}
				for name, want := range vars {
					got, ok := a.Var(name)
					if want == "" {
						if ok {
							t.Errorf("Var(%q) = %q, want $null", name, got)
						}
						continue
					}
					if !ok || got != want {
						t.Errorf("Var(%q) = %q, %v; want %q", name, got, ok, want)
					}
				}
				// The PROXY header gets the CN; the logs read the same fields.
				if got, _ := a.Var("tls_peer_subject_cn"); got != a.PeerCN {
					t.Errorf("PeerCN %q and $tls_peer_subject_cn %q differ", a.PeerCN, got)
				}
				exchange(tc)
			})
		})
	}
}

// TestAttrsSelfSigned: a self-signed phone certificate accepted without verification
// (verify_client optional_no_ca) is flagged self-signed and not verified; one that is itself a
// trusted root (the tests' clientCert) verifies, so Kamailio's $tls_peer_selfsigned is 0 for it.
func TestAttrsSelfSigned(t *testing.T) {
	spec := phoneSpec()
	spec.selfSigned = true
	cert, _ := spec.issue(t)
	synctest.Test(t, func(t *testing.T) {
		tc := mtlsHandshake(t, cert, false, Options{}, nil)
		a := tc.c.Attrs()
		if a.Verified || a.Peer == nil || !a.Peer.SelfSigned() {
			t.Fatalf("verified %v self-signed %v", a.Verified, a.Peer != nil && a.Peer.SelfSigned())
		}
		if v, _ := a.Var("tls_peer_selfsigned"); v != "1" {
			t.Errorf("$tls_peer_selfsigned = %q", v)
		}
		if v, _ := a.Var("tls_peer_verified"); v != "0" {
			t.Errorf("$tls_peer_verified = %q", v)
		}
		if a.Peer.Subject().Oneline() != a.Peer.Issuer().Oneline() {
			t.Errorf("subject %q issuer %q", a.Peer.Subject(), a.Peer.Issuer())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		tc := mtlsHandshake(t, clientCert, true, Options{}, func(srv, cli *tls.Config) { srv.ClientCAs = clientPool })
		a := tc.c.Attrs()
		if !a.Verified || !a.Peer.SelfSigned() {
			t.Fatalf("trusted self-signed: verified %v self-signed %v", a.Verified, a.Peer.SelfSigned())
		}
		if v, _ := a.Var("tls_peer_selfsigned"); v != "0" {
			t.Errorf("$tls_peer_selfsigned = %q for a trusted certificate", v)
		}
	})
	// CA-issued: never self-signed, even when subject and issuer happen to be equal but the
	// key identifiers differ.
	issued, _ := phoneSpec().issue(t)
	if NewCertInfo(issued.Leaf, false).SelfSigned() {
		t.Error("a CA-issued certificate judged self-signed")
	}
	sameName := phoneSpec()
	sameName.rawSubject = attrCA.RawSubject
	sameName.skid, sameName.akid = []byte{1, 2, 3, 4}, attrCA.SubjectKeyId
	twin, _ := sameName.issue(t)
	if len(twin.Leaf.AuthorityKeyId) == 0 || NewCertInfo(twin.Leaf, false).SelfSigned() {
		t.Errorf("subject = issuer but AKID %x != SKID %x: judged self-signed", twin.Leaf.AuthorityKeyId, twin.Leaf.SubjectKeyId)
	}
}

// TestAttrsExpired: an expired client certificate gets through only without verification; it is
// flagged against Options.Now, else against tls.Config.Time, and not at all without a clock.
func TestAttrsExpired(t *testing.T) {
	spec := phoneSpec()
	spec.notBefore = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	spec.notAfter = time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)
	cert, _ := spec.issue(t)
	later := func() time.Time { return time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC) }
	earlier := func() time.Time { return time.Date(1994, 1, 1, 0, 0, 0, 0, time.UTC) }
	cases := []struct {
		name    string
		o       Options
		cfgTime func() time.Time
		want    bool
	}{
		{"Options.Now", Options{Now: later}, nil, true},
		{"Options.Now before notAfter", Options{Now: earlier}, nil, false},
		{"tls.Config.Time", Options{}, later, true},
		{"Options.Now wins", Options{Now: earlier}, later, false},
		{"no clock", Options{}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc := mtlsHandshake(t, cert, false, c.o, func(srv, cli *tls.Config) {
					if c.cfgTime != nil {
						srv.Time = c.cfgTime
					}
				})
				a := tc.c.Attrs()
				if a.PeerExpired != c.want || a.Verified {
					t.Fatalf("PeerExpired %v verified %v, want %v false", a.PeerExpired, a.Verified, c.want)
				}
				if v, _ := a.Var("tls_peer_expired"); v != flag(c.want) {
					t.Errorf("$tls_peer_expired = %q", v)
				}
				if !a.Peer.ExpiredAt(later()) || a.Peer.ExpiredAt(earlier()) {
					t.Error("ExpiredAt")
				}
			})
		})
	}
	// With verification on, crypto/tls refuses it: expired never meets verified.
	synctest.Test(t, func(t *testing.T) {
		srv, cli := serverConfig(), clientConfig()
		srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, attrCAPool
		cli.Certificates = []tls.Certificate{cert}
		tc := newServerTest(t, srv, cli, Options{})
		tc.startPeer(nil)
		tc.pump()
		if tc.c.Handshook() || tc.err == nil {
			t.Fatalf("expired certificate accepted with verification on: %v", tc.err)
		}
		if a := tc.c.Attrs(); a.Peer != nil || a.Version != 0 {
			t.Fatalf("Attrs after a failed handshake: %+v", a)
		}
	})
}

// TestAttrsResumed: crypto/tls keeps the peer's certificates, and the verification result, in the
// session ticket, and restores them on resumption for TLS 1.3 and 1.2 alike, so a resumed session
// has the same Peer (and DER, when kept) as the full handshake that made it.
func TestAttrsResumed(t *testing.T) {
	cert, leaf := richSpec().issue(t)
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The same configs twice: the server's session ticket keys belong to its Config.
				srv, cli := mtlsConfigs(cert, true)
				cli.MaxVersion, cli.ClientSessionCache = vers, tls.NewLRUClientSessionCache(4)
				o := Options{KeepPeerDER: true}
				first := newServerTest(t, srv, cli, o)
				first.handshake()
				first.pump() // the TLS 1.3 NewSessionTicket reaches the client
				full := first.c.Attrs()
				first.close()

				tc := newServerTest(t, srv, cli, o)
				tc.handshake()
				a := tc.c.Attrs()
				if !a.Resumed || !a.Verified || a.Peer == nil {
					t.Fatalf("resumed %v verified %v peer %v", a.Resumed, a.Verified, a.Peer)
				}
				if a.PeerCN != full.PeerCN || a.Peer.Subject() != full.Peer.Subject() ||
					a.Peer.Serial() != full.Peer.Serial() || !bytes.Equal(a.Peer.DER(), leaf.Raw) {
					t.Errorf("resumed peer %q serial %s differs from the full handshake's %q %s",
						a.Peer.Subject(), a.Peer.Serial(), full.Peer.Subject(), full.Peer.Serial())
				}
			})
		})
	}
}

// TestAttrsKeepPeerDER: the DER is kept only when asked, and is the certificate's.
func TestAttrsKeepPeerDER(t *testing.T) {
	cert, leaf := phoneSpec().issue(t)
	synctest.Test(t, func(t *testing.T) {
		tc := mtlsHandshake(t, cert, true, Options{KeepPeerDER: true}, nil)
		a := tc.c.Attrs()
		if !bytes.Equal(a.Peer.DER(), leaf.Raw) {
			t.Fatalf("DER %d bytes, want the leaf's %d", len(a.Peer.DER()), len(leaf.Raw))
		}
		raw, ok := a.Var("tls_peer_raw_cert")
		blk, _ := pem.Decode([]byte(raw))
		if !ok || blk == nil || blk.Type != "CERTIFICATE" || !bytes.Equal(blk.Bytes, leaf.Raw) {
			t.Fatalf("$tls_peer_raw_cert = %q", raw)
		}
	})
}

// TestAttrsSetters: SetProfile and SetPeerRevoked work before and after the handshake and
// survive it; Attrs stays zero until the handshake completes.
func TestAttrsSetters(t *testing.T) {
	cert, _ := phoneSpec().issue(t)
	synctest.Test(t, func(t *testing.T) {
		srv, cli := serverConfig(), clientConfig()
		srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, attrCAPool
		cli.Certificates = []tls.Certificate{cert}
		tc := newServerTest(t, srv, cli, Options{})
		tc.c.SetProfile("by-address", nil)
		if a := tc.c.Attrs(); a.Profile != "" {
			t.Fatalf("Attrs before the handshake: %+v", a)
		}
		tc.handshake()
		if a := tc.c.Attrs(); a.Profile != "by-address" || a.PeerRevoked || a.Local != nil {
			t.Fatalf("set before: %+v", a)
		}
		tc.c.SetProfile("by-sni", NewCertInfo(serverCert.Leaf, false))
		tc.c.SetPeerRevoked(true)
		a := tc.c.Attrs()
		if a.Profile != "by-sni" || !a.PeerRevoked || a.Local.Subject().CN() != "tlsmux test server" {
			t.Fatalf("set after: %+v", a)
		}
		if v, _ := a.Var("tls_peer_revoked"); v != "1" {
			t.Errorf("$tls_peer_revoked = %q", v)
		}
		// Attrs is a copy: changing it changes nothing.
		a.Profile = "x"
		if tc.c.Attrs().Profile != "by-sni" {
			t.Error("Attrs returned shared state")
		}
	})
}

// TestAttrsClient: on the client side Peer is the server's certificate and SNI what we sent.
func TestAttrsClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newClientTest(t, clientConfig(), serverConfig(), Options{})
		tc.handshake()
		a := tc.c.Attrs()
		if a.Peer == nil || a.Peer.Subject().CN() != "tlsmux test server" || !a.Verified || a.SNI != serverName {
			t.Fatalf("client Attrs: %+v", a)
		}
		if got := a.Peer.SANs(SANDNS); !slices.Equal(got, []string{serverName}) {
			t.Errorf("server SANs %q", got)
		}
	})
}

// TestNameOneline checks the one-line form and the components for the string types and
// escapes, on names built by hand (some of which crypto/x509 would refuse).
func TestNameOneline(t *testing.T) {
	long := strings.Repeat("a", 600)
	cases := []struct {
		name      string
		raw       []byte
		line      string
		cn, o, ou string
		truncated bool
	}{
		{name: "rich", raw: richSubject, line: richSubjectLine, cn: "phone-1001", o: "enum.at/Phones+Lab", ou: "Provisioning"},
		{name: "empty", raw: rawName(), line: ""},
		{
			name: "control and high bytes",
			raw:  rawName([]rdnAttr{{oidCN, asn1.TagUTF8String, "a\tb\x7f\u00e9~ "}}),
			line: `/CN=a\x09b\x7F\xC3\xA9~ `, cn: "a\tb\x7f\u00e9~ ",
		},
		{
			name: "UniversalString",
			raw:  rawName([]rdnAttr{{oidCN, 28, "\x00\x00\x00A\x00\x01\xf6\x00"}}),
			line: `/CN=\x00\x00\x00A\x00\x01\xF6\x00`, cn: "A\U0001f600",
		},
		{
			name: "GeneralString of four-byte characters prints every fourth byte",
			raw:  rawName([]rdnAttr{{oidCN, 27, "\x00\x00\x00h\x00\x00\x00i"}}),
			line: `/CN=hi`, cn: "", // ASN1_STRING_to_UTF8 does not take GeneralString
		},
		{
			name: "GeneralString otherwise printed whole",
			raw:  rawName([]rdnAttr{{oidCN, 27, "\x00a\x00b"}}),
			line: `/CN=\x00a\x00b`,
		},
		{
			name: "VisibleString and T61String Latin-1",
			raw:  rawName([]rdnAttr{{oidO, asn1.TagT61String, "Caf\xe9"}}, []rdnAttr{{oidCN, 26, "vis"}}),
			line: `/O=Caf\xE9/CN=vis`, cn: "vis", o: "Café",
		},
		{
			name: "broken BMPString: in the line, not as a component",
			raw:  rawName([]rdnAttr{{oidCN, asn1.TagBMPString, "\x00a\x00"}}),
			line: `/CN=\x00a\x00`,
		},
		{
			name: "UTF8String that is not UTF-8",
			raw:  rawName([]rdnAttr{{oidCN, asn1.TagUTF8String, "\xff"}}),
			line: `/CN=\xFF`,
		},
		{
			name: "line cut at an attribute boundary at 1023 bytes",
			raw: rawName([]rdnAttr{{oidO, asn1.TagUTF8String, long}}, []rdnAttr{{oidOU, asn1.TagUTF8String, long}},
				[]rdnAttr{{oidCN, asn1.TagUTF8String, "last"}}),
			line: "/O=" + long, o: long, ou: long, cn: "last", truncated: true,
		},
		{
			name: "component over 1023 bytes left out",
			raw:  rawName([]rdnAttr{{oidCN, asn1.TagUTF8String, strings.Repeat("c", 1024)}}),
			line: "", truncated: true,
		},
		{name: "not DER", raw: []byte{0x30, 0x03, 0x31}, line: "", truncated: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b textBuilder
			ns := b.name(c.raw)
			n := Name{string(b.buf), ns}
			if n.Oneline() != c.line {
				t.Errorf("Oneline\n got %q\nwant %q", n.Oneline(), c.line)
			}
			if n.CN() != c.cn || n.Organization() != c.o || n.Unit() != c.ou {
				t.Errorf("CN %q O %q OU %q; want %q %q %q", n.CN(), n.Organization(), n.Unit(), c.cn, c.o, c.ou)
			}
			if b.truncated != c.truncated {
				t.Errorf("truncated %v, want %v", b.truncated, c.truncated)
			}
		})
	}
}

// TestOnelineOpenSSL has the openssl command (the implementation Kamailio links) print the
// subject and issuer of the test certificates with -nameopt compat, which is X509_NAME_oneline,
// and compares. Skipped where openssl is not installed.
func TestOnelineOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	rich, _ := richSpec().issue(t)
	phone, _ := phoneSpec().issue(t)
	for _, cert := range []*x509.Certificate{rich.Leaf, phone.Leaf, attrCA, serverCert.Leaf} {
		file := filepath.Join(t.TempDir(), "c.pem")
		if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("openssl", "x509", "-in", file, "-noout", "-subject", "-issuer", "-serial", "-nameopt", "compat").Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		ci := NewCertInfo(cert, false)
		serial, _ := new(big.Int).SetString(strings.TrimSpace(lineAfter(t, out, "serial=")), 16)
		if got, want := ci.Subject().Oneline(), lineAfter(t, out, "subject="); got != want {
			t.Errorf("subject\n got %q\nopenssl %q", got, want)
		}
		if got, want := ci.Issuer().Oneline(), lineAfter(t, out, "issuer="); got != want {
			t.Errorf("issuer\n got %q\nopenssl %q", got, want)
		}
		if ci.Serial() != serial.String() {
			t.Errorf("serial %s, openssl %s", ci.Serial(), serial)
		}
	}
}

func lineAfter(t *testing.T, out []byte, prefix string) string {
	t.Helper()
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSuffix(v, "\n")
		}
	}
	t.Fatalf("no %q in %q", prefix, out)
	return ""
}

// TestCipherSuiteTable: every suite crypto/tls implements has an OpenSSL row, and each row's
// description is what `openssl ciphers -v` prints (for the suites this openssl build knows).
func TestCipherSuiteTable(t *testing.T) {
	ids := map[uint16]bool{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids[cs.ID] = true
		if suiteByID(cs.ID) == nil {
			t.Errorf("no OpenSSL row for %s", cs.Name)
		}
	}
	if len(suites) != len(ids) {
		t.Errorf("%d rows for %d suites", len(suites), len(ids))
	}
	for _, s := range suites {
		if want := (Attrs{CipherSuite: s.id}).CipherBits(); want != int(s.bits) || want == 0 {
			t.Errorf("%s: bits %d", s.name, want)
		}
	}
	if a := (Attrs{CipherSuite: 0x1234}); a.CipherBits() != 0 || a.CipherDescription() != "" || a.CipherOpenSSLName() != "0x1234" {
		t.Errorf("unknown suite: %d %q %q", a.CipherBits(), a.CipherDescription(), a.CipherOpenSSLName())
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	out, err := exec.Command("openssl", "ciphers", "-v", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
	if err != nil {
		t.Fatalf("openssl ciphers: %v", err)
	}
	listed := map[string]string{}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(line, " ")
		listed[name] = strings.TrimSuffix(line, "\n")
	}
	for _, s := range suites {
		want, ok := listed[s.name]
		if !ok {
			if !s.notInOpenSSL3Build {
				t.Errorf("openssl does not list %s", s.name)
			}
			continue
		}
		if got := (Attrs{CipherSuite: s.id}).CipherDescription(); got != want {
			t.Errorf("description\n got %q\nopenssl %q", got, want)
		}
	}
}

// TestSANLimits: at most MaxSANs names are kept, MaxCertText bounds the text, an over-long name
// is left out and IP addresses of a bad length are skipped.
func TestSANLimits(t *testing.T) {
	var names []asn1.RawValue
	for i := range MaxSANs + 10 {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: int(SANDNS),
			Bytes: []byte(strings.Repeat("x", 10) + string(rune('a'+i%26)) + strings.Repeat("y", i))})
	}
	ext, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	var b textBuilder
	sans := b.sans(ext)
	if len(sans) != MaxSANs || !b.truncated {
		t.Fatalf("%d SANs kept, truncated %v; want %d, true", len(sans), b.truncated, MaxSANs)
	}

	// The text budget: names of 1000 bytes until MaxCertText is reached.
	names = names[:0]
	for i := range 12 {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: int(SANURI),
			Bytes: []byte(strings.Repeat(string(rune('a'+i)), 1000))})
	}
	names = append(names,
		asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: int(SANEmail), Bytes: bytes.Repeat([]byte("e"), 1024)},
		asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: int(SANIP), Bytes: []byte{1, 2, 3}},
		asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: []byte("otherName")},
	)
	ext, _ = asn1.Marshal(names)
	b = textBuilder{}
	sans = b.sans(ext)
	if len(b.buf) > MaxCertText || len(sans) != MaxCertText/1000 || !b.truncated {
		t.Fatalf("%d bytes of text, %d SANs", len(b.buf), len(sans))
	}
	ci := &CertInfo{text: string(b.buf), sans: sans}
	if ci.SANCount(SANEmail) != 0 || ci.SANCount(SANIP) != 0 || ci.SANs(SANEmail) != nil {
		t.Error("over-long email or bad IP kept")
	}
	if _, ok := ci.SAN(SANURI, MaxCertText/1000); ok {
		t.Error("SAN past the last")
	}
}

// TestNewCertInfoLimits: a certificate whose text is over the limits still yields a bounded
// CertInfo that says it was truncated.
func TestNewCertInfoLimits(t *testing.T) {
	spec := phoneSpec()
	for i := range 100 {
		spec.dns = append(spec.dns, strings.Repeat("d", 200)+string(rune('a'+i%26))+strings.Repeat("z", i)+".example")
	}
	cert, _ := spec.issue(t)
	ci := NewCertInfo(cert.Leaf, false)
	if !ci.Truncated() || len(ci.text) > MaxCertText || len(ci.sans) > MaxSANs {
		t.Fatalf("truncated %v, %d bytes, %d SANs", ci.Truncated(), len(ci.text), len(ci.sans))
	}
	if ci.Subject().CN() != "1001.phones.example.net" || ci.SANCount(SANURI) != 1 {
		t.Errorf("the small values are lost: CN %q", ci.Subject().CN())
	}
	if NewCertInfo(nil, true) != nil {
		t.Error("NewCertInfo(nil)")
	}
}

// TestAttrsDoc: attrs.md names every pseudo-variable of Kamailio's tls module (tls_pv[] in
// src/modules/tls/tls_select.c, copied here as the oracle) and of OpenSIPS's tls_mgm.
func TestAttrsDoc(t *testing.T) {
	doc, err := os.ReadFile("attrs.md")
	if err != nil {
		t.Fatal(err)
	}
	kamailio := []string{
		"tls_version", "tls_description", "tls_cipher_info", "tls_cipher_bits",
		"tls_peer_raw_cert", "tls_my_raw_cert", "tls_peer_urlencoded_cert", "tls_my_urlencoded_cert",
		"tls_peer_version", "tls_my_version", "tls_peer_serial", "tls_my_serial",
		"tls_peer_subject", "tls_peer_issuer", "tls_my_subject", "tls_my_issuer",
		"tls_peer_subject_uid", "tls_my_subject_uid", "tls_peer_san_count", "tls_my_san_count",
		"tls_peer_verified", "tls_peer_revoked", "tls_peer_expired", "tls_peer_selfsigned",
		"tls_peer_notBefore", "tls_peer_notAfter", "tls_peer_server_name",
	}
	for _, p := range []string{"peer", "my"} {
		for _, part := range []string{"subject", "issuer"} {
			for _, c := range []string{"cn", "locality", "country", "state", "organization", "unit"} {
				kamailio = append(kamailio, "tls_"+p+"_"+part+"_"+c)
			}
		}
		for _, k := range []string{"email", "hostname", "uri", "ip"} {
			kamailio = append(kamailio, "tls_"+p+"_san_"+k)
		}
	}
	for _, v := range kamailio {
		if !regexp.MustCompile(`\$` + regexp.QuoteMeta(v) + `\b`).Match(doc) {
			t.Errorf("attrs.md does not map $%s", v)
		}
	}
	for _, sel := range []string{"@tls.version", "@tls.description", "@tls.cipher.bits", "@tls.peer.subject.cn",
		"@tls.peer.verified", "@tls.peer.notBefore", "@tls.peer.email", "@tls.my.sn", "@tls.server_name",
		"@tls.peer.raw_cert", "@tls.peer.self_signed"} {
		if !bytes.Contains(doc, []byte(sel)) {
			t.Errorf("attrs.md does not map %s", sel)
		}
	}
}

// retainedPerRecord measures the heap n records made by mk keep, per record.
func retainedPerRecord(n int, mk func() any) float64 {
	keep := make([]any, n)
	before := heapInUse()
	for i := range keep {
		keep[i] = mk()
	}
	after := heapInUse()
	runtime.KeepAlive(keep)
	return float64(after-before) / float64(n)
}

// TestCertInfoSize measures what Attrs keeps per connection for a typical phone certificate
// (phoneSpec, ~600 bytes of DER) and for the rich one, against a parsed *x509.Certificate. The
// budget is 1 KiB for the phone; the figures are in the report.
func TestCertInfoSize(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory measurement: not under -race or -short")
	}
	phone, _ := phoneSpec().issue(t)
	rich, _ := richSpec().issue(t)
	const n = 2000
	phoneInfo := retainedPerRecord(n, func() any { return NewCertInfo(phone.Leaf, false) })
	richInfo := retainedPerRecord(n, func() any { return NewCertInfo(rich.Leaf, false) })
	attrs := retainedPerRecord(n, func() any { return &Attrs{Peer: NewCertInfo(phone.Leaf, false)} })
	parsed := retainedPerRecord(n, func() any {
		c, _ := x509.ParseCertificate(phone.Leaf.Raw)
		return c
	})
	t.Logf("phone certificate (%d bytes DER): CertInfo %.0f B, Attrs+CertInfo %.0f B; parsed x509.Certificate %.0f B (DER shared)",
		len(phone.Leaf.Raw), phoneInfo, attrs, parsed)
	t.Logf("rich certificate (%d bytes DER): CertInfo %.0f B", len(rich.Leaf.Raw), richInfo)
	if phoneInfo > 1024 {
		t.Errorf("CertInfo of a phone certificate keeps %.0f B, over the 1 KiB budget", phoneInfo)
	}
}

// BenchmarkAttrs measures the work done once per handshake: NewCertInfo for a phone certificate
// (what Poll adds for an mTLS connection), and the whole record from an established connection
// (ConnectionState included). B/conn is the heap kept per record.
func BenchmarkAttrs(b *testing.B) {
	phone, _ := phoneSpec().issue(b)
	b.Run("NewCertInfo-phone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = NewCertInfo(phone.Leaf, false)
		}
		if !raceEnabled {
			b.ReportMetric(retainedPerRecord(1000, func() any { return NewCertInfo(phone.Leaf, false) }), "B/conn")
		}
	})
	b.Run("computeAttrs-mTLS", func(b *testing.B) {
		srv, cli := serverConfig(), clientConfig()
		srv.ClientAuth, srv.ClientCAs = tls.RequireAndVerifyClientCert, attrCAPool
		cli.Certificates = []tls.Certificate{phone}
		p := newPair(srv, cli)
		if err := p.handshake(nil); err != nil {
			b.Fatal(err)
		}
		defer p.srv.Close(false)
		defer p.cli.Close(false)
		b.ReportAllocs()
		for b.Loop() {
			p.srv.attrs = nil
			p.srv.computeAttrs()
		}
	})
	b.Run("Attrs-copy", func(b *testing.B) {
		c := &Conn{handshook: true, attrs: &Attrs{Peer: NewCertInfo(phone.Leaf, false)}}
		b.ReportAllocs()
		for b.Loop() {
			if c.Attrs().Peer == nil {
				b.Fatal("no peer")
			}
		}
	})
}

// stdATV and stdRDNSET decode a Name with encoding/asn1, the fuzz oracle for forEachATV.
type stdATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type stdRDNSET []stdATV

// FuzzCertInfoText feeds arbitrary bytes to the name and subjectAltName decoders: they must not
// panic, what they keep must respect the limits and point inside the text, and where
// encoding/asn1 can read the name too, both must see the same attributes.
func FuzzCertInfoText(f *testing.F) {
	f.Add(richSubject, []byte(nil))
	f.Add(rawName([]rdnAttr{{oidCN, 27, "\x00\x00\x00h"}}, []rdnAttr{{oidCN, 28, "\x00\x00\x00A"}}), []byte{0x30, 0x00})
	phone, _ := phoneSpec().issue(f)
	rich, _ := richSpec().issue(f)
	for _, c := range []*x509.Certificate{phone.Leaf, rich.Leaf} {
		for _, ext := range c.Extensions {
			if ext.Id.Equal(oidSAN) {
				f.Add(c.RawSubject, ext.Value)
			}
		}
	}
	f.Fuzz(func(t *testing.T, name, sanExt []byte) {
		var b textBuilder
		ns := b.name(name)
		is := b.name(name)
		sans := b.sans(sanExt)
		ci := &CertInfo{text: string(b.buf), subject: ns, issuer: is, sans: sans, serial: absent}
		if len(ci.text) > MaxCertText || len(sans) > MaxSANs {
			t.Fatalf("%d bytes of text, %d SANs", len(ci.text), len(sans))
		}
		check := func(s span) {
			if s.off != noOff && (int(s.off)+int(s.n) > len(ci.text) || s.n > maxValue) {
				t.Fatalf("span %+v outside %d bytes of text", s, len(ci.text))
			}
		}
		for _, set := range []nameSet{ns, is} {
			check(set.line)
			for _, s := range set.comp {
				check(s)
			}
		}
		for _, s := range sans {
			check(s.s)
			if !isSANKind(s.kind) {
				t.Fatalf("SAN kind %d", s.kind)
			}
		}
		sub, iss := ci.Subject(), ci.Issuer()
		if sub.Oneline() != iss.Oneline() || sub.CN() != iss.CN() || sub.UID() != iss.UID() || sub.Unit() != iss.Unit() {
			t.Fatalf("the same name decoded twice differs: %q %q", sub, iss)
		}
		for _, k := range []SANKind{SANEmail, SANDNS, SANURI, SANIP} {
			if len(ci.SANs(k)) != ci.SANCount(k) {
				t.Fatal("SANs and SANCount disagree")
			}
		}
		// Differential: where encoding/asn1 also reads the name, both see the same attributes.
		var std []stdRDNSET
		rest, err := asn1.Unmarshal(name, &std)
		var mine []stdATV
		var firsts []bool
		okMine := forEachATV(name, func(oid []byte, v value, first bool) {
			mine = append(mine, stdATV{Type: asn1.ObjectIdentifier{}, Value: asn1.RawValue{FullBytes: append([]byte{v.id}, v.content...), Bytes: oid}})
			firsts = append(firsts, first)
		})
		if err == nil && len(rest) == 0 && okMine {
			i := 0
			for _, rdn := range std {
				for j, a := range rdn {
					if i >= len(mine) {
						t.Fatalf("encoding/asn1 sees more attributes than forEachATV")
					}
					m := mine[i]
					if oidContent(a.Type) != string(m.Value.Bytes) || a.Value.FullBytes[0] != m.Value.FullBytes[0] ||
						!bytes.Equal(a.Value.Bytes, m.Value.FullBytes[1:]) || firsts[i] != (j == 0) {
						t.Fatalf("attribute %d: encoding/asn1 %v %x, forEachATV %x %x", i, a.Type, a.Value.FullBytes, m.Value.Bytes, m.Value.FullBytes)
					}
					i++
				}
			}
			if i != len(mine) {
				t.Fatalf("forEachATV sees %d attributes, encoding/asn1 %d", len(mine), i)
			}
		}
		// Kamailio's variables over the same record never panic.
		a := Attrs{Version: tls.VersionTLS13, Peer: ci, Local: ci}
		for _, v := range []string{"tls_peer_subject", "tls_my_issuer_cn", "tls_peer_san_uri[3]", "tls_peer_san_count(IP)"} {
			a.Var(v)
		}
	})
}
