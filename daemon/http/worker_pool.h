// A fixed set of threads that run blocking work (Handler::Handle) so that the
// I/O threads never block. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kmsd::http {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();  // Stop()

  // Queues a task. The queue is not bounded here: the server keeps at most
  // one request in flight per connection, so the connection cap bounds it.
  // Returns false (and drops the task) after Stop() began.
  bool Submit(std::function<void()> task);

  // Lets running tasks finish, destroys queued ones unrun, joins the threads.
  // Blocks until every running task has returned. Idempotent.
  void Stop();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kmsd::http
