package forward_test

import (
	"crypto/tls"
	"fmt"
	"net/netip"

	"github.com/tlsmux/tlsmux/forward"
)

func ExampleAppendHeader() {
	f := forward.Facts{
		Src: netip.MustParseAddrPort("[::ffff:192.0.2.10]:50000"), // IPv4 client, dual-stack socket
		Dst: netip.MustParseAddrPort("[::ffff:198.51.100.1]:5061"),
	}
	hdr, err := forward.AppendHeader(nil, forward.V1, f)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", hdr)
	// Output: "PROXY TCP4 192.0.2.10 198.51.100.1 50000 5061\r\n"
}

func ExampleAppendHeader_v2() {
	f := forward.Facts{
		Src:     netip.MustParseAddrPort("192.0.2.10:50000"),
		Dst:     netip.MustParseAddrPort("198.51.100.1:5061"),
		TLS:     true,
		Version: "TLSv1.2", // tlsconn.Attrs.VersionName spells it as OpenSSL does
		Cipher:  forward.CipherName(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
		SNI:     "sip.example.com",
	}
	buf := make([]byte, 0, 256) // reused per connection: no allocation
	hdr, err := forward.AppendHeader(buf, forward.V2, f)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(hdr), "bytes;", f.Version, f.Cipher)
	// Output: 96 bytes; TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256
}
