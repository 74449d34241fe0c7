package dataplane

import "testing"

// One worker at a time may poll: the others sleep, so a machine with as many
// CPUs as workers keeps one for the namespaces.
func TestClaimSpinOneWorkerAtATime(t *testing.T) {
	dp := New(Options{Workers: 2})
	w0, w1 := &worker{dp: dp, id: 0}, &worker{dp: dp, id: 1}
	if !w0.claimSpin() {
		t.Fatal("worker 0 could not poll with no other polling")
	}
	if !w0.claimSpin() {
		t.Fatal("worker 0 lost its turn to poll while it still had it")
	}
	if w1.claimSpin() {
		t.Fatal("worker 1 may poll while worker 0 polls")
	}
	w1.releaseSpin() // not worker 1's turn: changes nothing
	if w1.claimSpin() {
		t.Fatal("worker 1's release ended worker 0's turn")
	}
	w0.releaseSpin() // worker 0 goes to sleep (worker.run)
	if !w1.claimSpin() {
		t.Fatal("worker 1 could not poll once worker 0 slept")
	}
	if w0.claimSpin() {
		t.Fatal("worker 0 may poll while worker 1 polls")
	}
}
