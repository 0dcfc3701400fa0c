#include "octet/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace octet {
namespace {

// A fixed pool of worker threads; parallel_for hands each a contiguous chunk.
class ThreadPool {
 public:
  ~ThreadPool() { resize(0); }

  void resize(int workers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { loop(i); });
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  // Runs fn(0..parts-1), part 0 on the caller, the rest on workers.
  void run(int parts, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> call_lock(call_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      parts_ = parts;
      remaining_ = parts - 1;
      ++generation_;
    }
    cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return remaining_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
        if (index + 1 >= parts_) continue;
      }
      (*job)(index + 1);
      std::lock_guard<std::mutex> lock(mu_);
      if (--remaining_ == 0) done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, call_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int parts_ = 0;
  int remaining_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

std::atomic<int> g_threads{1};
ThreadPool& pool() {
  static ThreadPool p;
  return p;
}
std::mutex g_resize_mu;
thread_local bool t_in_parallel_region = false;  // nested regions run inline

}  // namespace

void set_num_threads(int n) {
  n = std::max(1, n);
  std::lock_guard<std::mutex> lock(g_resize_mu);
  g_threads = n;
  pool().resize(n - 1);
}

int num_threads() { return g_threads; }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  int parts = static_cast<int>(std::min<int64_t>(num_threads(), n));
  if (parts <= 1 || t_in_parallel_region) {
    if (n > 0) fn(0, n);
    return;
  }
  pool().run(parts, [&](int p) {
    t_in_parallel_region = true;
    int64_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) fn(begin, end);
    t_in_parallel_region = false;
  });
}

}  // namespace octet
