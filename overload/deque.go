package overload

// deque is a growable ring of jobs: push at the back, take from either end.
// The oldest job is at the front.
type deque struct {
	buf  []*Job
	head int // index of the front
	n    int
}

func (d *deque) len() int { return d.n }

func (d *deque) pushBack(j *Job) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)%len(d.buf)] = j
	d.n++
}

func (d *deque) front() *Job { return d.buf[d.head] }

func (d *deque) popFront() *Job {
	j := d.buf[d.head]
	d.buf[d.head] = nil
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	return j
}

func (d *deque) popBack() *Job {
	i := (d.head + d.n - 1) % len(d.buf)
	j := d.buf[i]
	d.buf[i] = nil
	d.n--
	return j
}

func (d *deque) grow() {
	size := max(8, 2*len(d.buf))
	buf := make([]*Job, size)
	for i := range d.n {
		buf[i] = d.buf[(d.head+i)%len(d.buf)]
	}
	d.buf, d.head = buf, 0
}
