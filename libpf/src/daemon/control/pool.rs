//! The control socket's worker threads: a fixed number of them run the
//! requests the server has read (a ruleset commit, a listing of a million
//! states) while the server's loop goes on accepting and reading. Two
//! lanes: root's requests are taken first, and unprivileged ones never
//! occupy every worker, so `pfctl -f` is not starved by readers.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// The queue of waiting requests and the policy that picks the next.
#[derive(Debug)]
pub struct Lanes<J> {
    root: VecDeque<J>,
    user: VecDeque<J>,
    /// Unprivileged requests running now.
    user_running: usize,
    /// Most unprivileged requests running at once.
    user_max: usize,
    closed: bool,
}

impl<J> Lanes<J> {
    pub fn new(user_max: usize) -> Lanes<J> {
        Lanes {
            root: VecDeque::new(),
            user: VecDeque::new(),
            user_running: 0,
            user_max,
            closed: false,
        }
    }

    pub fn push(&mut self, root: bool, job: J) {
        if root {
            self.root.push_back(job);
        } else {
            self.user.push_back(job);
        }
    }

    /// The next job to run: root's first; an unprivileged one only while
    /// fewer than `user_max` run. Its lane is returned with it, for `done`.
    pub fn take(&mut self) -> Option<(bool, J)> {
        if let Some(j) = self.root.pop_front() {
            return Some((true, j));
        }
        if self.user_running < self.user_max {
            if let Some(j) = self.user.pop_front() {
                self.user_running += 1;
                return Some((false, j));
            }
        }
        None
    }

    /// A job taken from lane `root` has finished.
    pub fn done(&mut self, root: bool) {
        if !root {
            self.user_running = self.user_running.saturating_sub(1);
        }
    }

    pub fn waiting(&self) -> usize {
        self.root.len() + self.user.len()
    }
}

/// Worker threads running jobs from `Lanes`.
pub struct Pool<J> {
    lanes: Arc<(Mutex<Lanes<J>>, Condvar)>,
}

impl<J: Send + 'static> Pool<J> {
    /// `workers` threads (at least 2: one is always free for root), each
    /// running `run` on the jobs it takes.
    pub fn start(
        workers: usize,
        run: impl Fn(J) + Send + Sync + 'static,
    ) -> std::io::Result<Pool<J>> {
        let workers = workers.max(2);
        let lanes = Arc::new((Mutex::new(Lanes::new(workers - 1)), Condvar::new()));
        let run = Arc::new(run);
        for i in 0..workers {
            let lanes = lanes.clone();
            let run = run.clone();
            std::thread::Builder::new()
                .name(format!("control{i}"))
                .spawn(move || work(&lanes, &*run))?;
        }
        Ok(Pool { lanes })
    }

    pub fn push(&self, root: bool, job: J) {
        let (m, cv) = &*self.lanes;
        m.lock().unwrap_or_else(|e| e.into_inner()).push(root, job);
        cv.notify_all();
    }

    /// Requests waiting for a worker.
    pub fn waiting(&self) -> usize {
        let (m, _) = &*self.lanes;
        m.lock().unwrap_or_else(|e| e.into_inner()).waiting()
    }
}

impl<J> Drop for Pool<J> {
    fn drop(&mut self) {
        let (m, cv) = &*self.lanes;
        m.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        cv.notify_all();
    }
}

fn work<J>(lanes: &(Mutex<Lanes<J>>, Condvar), run: &dyn Fn(J)) {
    let (m, cv) = lanes;
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if g.closed {
            return;
        }
        let Some((root, job)) = g.take() else {
            g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        drop(g);
        run(job);
        g = m.lock().unwrap_or_else(|e| e.into_inner());
        g.done(root);
        // A user job's end may let another user job run.
        cv.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_first_and_a_worker_kept_for_root() {
        let mut l = Lanes::new(2);
        for i in 0..5 {
            l.push(false, i);
        }
        l.push(true, 100);
        assert_eq!(l.take(), Some((true, 100)));
        assert_eq!(l.take(), Some((false, 0)));
        assert_eq!(l.take(), Some((false, 1)));
        // Two user jobs run: the third waits, however many are queued.
        assert_eq!(l.take(), None);
        l.push(true, 101);
        assert_eq!(l.take(), Some((true, 101)));
        l.done(true);
        assert_eq!(l.take(), None);
        l.done(false);
        assert_eq!(l.take(), Some((false, 2)));
        assert_eq!(l.waiting(), 2);
    }

    #[test]
    fn pool_runs_every_job() {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = Pool::start(3, move |j: u32| {
            let _ = tx.lock().unwrap().send(j);
        })
        .unwrap();
        for i in 0..50 {
            pool.push(i % 7 == 0, i);
        }
        let mut got: Vec<u32> = (0..50)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert_eq!(pool.waiting(), 0);
    }
}
