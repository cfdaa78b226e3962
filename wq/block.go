package wq

import "sync"

// MinBlockSize is the smallest block a Queue uses; smaller sizes given to [NewQueue] are raised
// to it, because below it the per-block header (48 bytes) outweighs the payload.
const MinBlockSize = 64

// block is one chunk of a Queue's storage: buf[r:w] is queued, buf[w:] is free.
// Blocks are pooled whole (header and buffer together) so that taking and returning one
// allocates nothing: a sync.Pool of *block stores a pointer in its interface without boxing.
type block struct {
	next *block
	r, w int
	buf  []byte // len(buf) == the pool's size, always
}

// blockPool hands out blocks of one size.
//
// Why sync.Pool of fixed-size blocks rather than bytebufferpool: bytebufferpool serves
// growable buffers of calibrated, varying capacity; a Get may return a buffer smaller than a
// block (growing it allocates) or larger (memory no longer follows what is queued), and it pools
// []byte values, so each Put boxes a slice header. Fixed-size blocks make the memory held by a
// queue exactly ceil(queued/size) blocks plus at most one, pooling *block costs no allocation,
// and sync.Pool drops idle blocks across two GC cycles, so memory taken in a burst is returned
// to the heap once the burst is over rather than kept for the life of the process.
type blockPool struct {
	size int
	p    sync.Pool
}

func (p *blockPool) get() *block {
	if b, _ := p.p.Get().(*block); b != nil {
		return b
	}
	return &block{buf: make([]byte, p.size)}
}

// put returns b to the pool. The bytes are not cleared: a block is only ever read between r
// and w, which a later user fills before reading.
func (p *blockPool) put(b *block) {
	b.next, b.r, b.w = nil, 0, 0
	p.p.Put(b)
}

var (
	defaultPool = &blockPool{size: DefaultBlockSize}
	// pools holds one blockPool per block size in use. Sizes come from configuration, so there
	// are a handful; entries are never removed (an idle sync.Pool holds nothing after two GCs).
	pools sync.Map // int -> *blockPool
)

func poolFor(size int) *blockPool {
	switch {
	case size <= 0 || size == DefaultBlockSize:
		return defaultPool
	case size < MinBlockSize:
		size = MinBlockSize
	}
	if p, ok := pools.Load(size); ok {
		return p.(*blockPool)
	}
	p, _ := pools.LoadOrStore(size, &blockPool{size: size})
	return p.(*blockPool)
}
