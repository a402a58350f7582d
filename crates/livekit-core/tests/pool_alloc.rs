//! A warm frame path does not allocate: pool -> port -> reader -> drop -> pool.
//! (Its own test binary: the counting allocator sees only this test.)

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use livekit_core::{FrameLayout, FramePool, FrameSource, FrameTarget, PixelFormat, Port, Pull};

struct Counting;

thread_local! {
    /// Allocations made by this thread (other tests run on other threads).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_warm_frame_path_does_not_allocate() {
    let layout = FrameLayout::with_alignment(1280, 720, PixelFormat::Rgba8, 64).unwrap();
    let pool = FramePool::new(layout);
    let port = Port::drop_oldest(3);

    // The counter sees this thread's allocations.
    let before = allocations();
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(allocations() - before, 1);

    let cycle = |i: u64| {
        let mut frame = pool.acquire(Duration::from_millis(i * 33));
        frame.row_mut(0, 0)[..4].copy_from_slice(&(i as u32).to_le_bytes());
        let frame = frame.freeze();
        let copy = frame.clone(); // sharing is O(1) and allocation-free too
        port.push(frame).unwrap();
        drop(copy);
        if i.is_multiple_of(2) {
            // The reader keeps up only every other frame: some frames are dropped by the port.
            let Pull::Frame(read) = port.latest() else {
                panic!("a frame was pushed")
            };
            assert_eq!(read.row(0, 0)[..4], (i as u32).to_le_bytes());
        }
    };
    for i in 0..20 {
        cycle(i);
    }
    let allocated_warm = pool.allocations();
    let before = allocations();
    for i in 20..1020 {
        cycle(i);
    }
    assert_eq!(allocations() - before, 0, "allocations on the warm path");
    assert_eq!(
        pool.allocations(),
        allocated_warm,
        "the pool made no new buffers"
    );
    assert!(
        allocated_warm <= 4,
        "a few buffers suffice: {allocated_warm}"
    );
    assert!(port.dropped() > 0);
}

#[test]
fn pool_buffers_come_back_when_the_last_clone_drops() {
    let pool = FramePool::with_max_idle(FrameLayout::new(16, 16, PixelFormat::Bgra8).unwrap(), 2);
    let a = pool.acquire(Duration::ZERO).freeze();
    let b = a.clone();
    assert!(a.shares_buffer_with(&b));
    assert_eq!(pool.idle(), 0);
    drop(a);
    assert_eq!(pool.idle(), 0, "a clone still holds the buffer");
    drop(b);
    assert_eq!(pool.idle(), 1);
    let frames: Vec<_> = (0..4).map(|_| pool.acquire(Duration::ZERO)).collect();
    assert_eq!(pool.allocations(), 4);
    drop(frames);
    assert_eq!(pool.idle(), 2, "at most max_idle buffers are kept");
}
