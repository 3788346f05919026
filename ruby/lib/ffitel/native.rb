# frozen_string_literal: true

require "ffi"
require "json"

module Ffitel
  # The C ABI of libffitel.so (cshim/include/ffitel.h), attached once by
  # Runtime.load!, never by `require "ffitel"`. The one module that calls
  # the library; it also turns what the library returns into values or
  # Ffitel::Error (check, handle, read_string). Internal.
  #
  # Strings go in as :pointer + explicit byte length: ruby-ffi passes a
  # String's bytes to a :pointer argument without copying or checking for
  # NUL, and the library never retains them.
  module Native
    extend FFI::Library

    OK = 0
    E_INVALID = -1
    E_STATE = -2
    E_FORKED = -3
    E_HANDLE = -4
    E_FULL = -5
    E_INTERNAL = -6
    E_UNAVAILABLE = -7
    RB_USE_JSON = 1 # FFITEL_RB_USE_JSON: Ffitel::NativeLog.log declined; use ffitel_log

    # Blocks +signals+ in the calling thread while the Go runtime starts, so
    # the threads Go creates inherit a mask that keeps them out of signal
    # delivery: SIGINT/SIGTERM then always land on a Ruby thread. See
    # Runtime.load!.
    module LibC
      extend FFI::Library
      ffi_lib FFI::Library::LIBC
      SIG_BLOCK = 0
      SIG_SETMASK = 2
      SIGSET_BYTES = 128
      attach_function :sigemptyset, [:pointer], :int
      attach_function :sigaddset, [:pointer, :int], :int
      attach_function :pthread_sigmask, [:int, :pointer, :pointer], :int
    end

    # Adds SA_ONSTACK to the handler Ruby installed for +signo+. Go requires
    # it of every non-Go handler: without it a signal that lands on a thread
    # running Go code runs Ruby's handler on a small goroutine stack and
    # corrupts it (measured: "traceback did not unwind completely", SIGSEGV).
    # With it the handler runs on the thread's alternate signal stack, which
    # Ruby and Go set up for every thread. ffitel_signal_onstack does it in C,
    # without entering Go and without Ruby knowing struct sigaction's layout.
    def self.handler_on_altstack(signo)
      ffitel_signal_onstack(signo)
    end

    def self.with_signals_blocked(names)
      set = FFI::MemoryPointer.new(LibC::SIGSET_BYTES)
      old = FFI::MemoryPointer.new(LibC::SIGSET_BYTES)
      LibC.sigemptyset(set)
      names.each do |name|
        num = Signal.list[name]
        LibC.sigaddset(set, num) if num
      end
      blocked = LibC.pthread_sigmask(LibC::SIG_BLOCK, set, old).zero?
      begin
        yield
      ensure
        LibC.pthread_sigmask(LibC::SIG_SETMASK, old, nil) if blocked
      end
    end

    def self.load(path)
      ffi_lib path

      check_abi(path) # before attaching anything else
      attach_function :ffitel_version, [], :string
      attach_function :ffitel_init_console, [], :int
      attach_function :ffitel_init_telemetry, [], :int
      attach_function :ffitel_shutdown, [:int32], :int, blocking: true
      attach_function :ffitel_flush, [:int32], :int, blocking: true
      attach_function :ffitel_rb_define, [], :int
      attach_function :ffitel_phase, [], :int
      attach_function :ffitel_last_error, [:pointer, :size_t], :int
      attach_function :ffitel_signal_onstack, [:int32], :int

      # Blocking (ruby-ffi releases the GVL around the call): these may wait
      # for room in a full export queue (backpressure, at most
      # FFITEL_QUEUE_FULL_WAIT_MS), and the process's other threads run
      # meanwhile. The native log method (hostrb.c) releases it itself,
      # around the synchronous path only.
      attach_function :ffitel_log, [:int32, :pointer, :size_t, :pointer, :size_t, :uint64], :int, blocking: true
      attach_function :ffitel_log_enabled, [:int32], :int

      attach_function :ffitel_span_start,
                      [:pointer, :size_t, :uint64, :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      attach_function :ffitel_span_set_attributes, [:uint64, :pointer, :size_t], :int
      attach_function :ffitel_span_add_event, [:uint64, :pointer, :size_t, :pointer, :size_t], :int
      attach_function :ffitel_span_end, [:uint64, :int32, :pointer, :size_t], :int, blocking: true
      attach_function :ffitel_span_traceparent, [:uint64, :pointer, :size_t], :int
      attach_function :ffitel_span_inject, [:uint64, :pointer, :size_t], :int

      # Tasks: a CONSUMER span per attempt plus the messaging metrics.
      attach_function :ffitel_task_start,
                      [:pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32,
                       :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      # ffitel_task_start with the host's current span handle (0 for none),
      # linked to the task span when the carrier gives it a remote parent.
      attach_function :ffitel_task_start_in,
                      [:uint64, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32,
                       :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      # ffitel_task_start_in for a job framework: messaging.system and the
      # queue (destination) first.
      attach_function :ffitel_task_start_ex,
                      [:uint64, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t,
                       :pointer, :size_t, :int32, :pointer, :size_t, :pointer, :size_t, :int32], :uint64
      attach_function :ffitel_task_end, [:uint64, :int32, :pointer, :size_t], :int, blocking: true

      attach_function :ffitel_counter_add, [:pointer, :size_t, :double, :pointer, :size_t], :int
      attach_function :ffitel_histogram_record,
                      [:pointer, :size_t, :double, :pointer, :size_t, :pointer, :size_t], :int

      # Domain events. Publishing to a durable sink may wait on the network:
      # released from the GVL too.
      attach_function :ffitel_event_publish,
                      [:pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32, :pointer, :size_t],
                      :int, blocking: true
      attach_function :ffitel_event_publish_in,
                      [:uint64, :pointer, :size_t, :pointer, :size_t, :pointer, :size_t, :int32, :pointer, :size_t],
                      :int, blocking: true
      attach_function :ffitel_event_subscribe, [:pointer, :size_t], :uint64
      # Waits up to timeout_ms: released from the GVL.
      attach_function :ffitel_event_poll, [:uint64, :int32, :pointer, :size_t], :int, blocking: true
      attach_function :ffitel_event_unsubscribe, [:uint64], :int

      attach_function :ffitel_stats_json, [:pointer, :size_t], :int
      attach_function :ffitel_doctor_json, [:int32, :pointer, :size_t], :int, blocking: true
      # Counts a bad input the binding replaced or left out (a nil value).
      attach_function :ffitel_count_input_error, [], :int
      # Whether the spool takes records; in a forked child, whether the child
      # writes through it (docs/SPOOL.md). Never enters Go.
      begin
        attach_function :ffitel_spool_enabled, [], :int
      rescue FFI::NotFoundError
        def self.ffitel_spool_enabled = 0 # an older library
      end
    end

    # ---- the one place results become values or exceptions ---------------

    # A status code as the wrappers answer it: true for success (>= 0); false
    # in a forked child (Runtime is told); Ffitel::Error with the library's
    # message for any other error.
    def self.check(rc)
      return true if rc >= 0
      return Runtime.forked! && false if rc == E_FORKED

      raise error(rc)
    end

    # The Ffitel::Error for +rc+ (or for a failed handle-returning call, nil):
    # the calling thread's last error message, else +fallback+.
    def self.error(rc, fallback = nil)
      message = last_error
      message = "ffitel: #{fallback || "error #{rc}"}" if message.empty?
      Error.new(message, rc)
    end

    # A handle (span, task, subscription) from a call that returns 0 on
    # failure: the handle; nil in a forked child; else raises Ffitel::Error
    # (+code+ and the block's message when the library left none; the block
    # runs only then, so a hot caller builds no message).
    def self.handle(handle, code: nil)
      return handle if handle.nonzero?
      return nil if Runtime.forked_now?

      raise error(code, block_given? ? yield : nil)
    end

    # Calls a function that writes into a caller's buffer and returns the
    # length it needed (cshim's buffer convention): yields (buffer, capacity),
    # retries with a buffer of the needed size, and returns the output as a
    # UTF-8 String. nil in a forked child; raises Ffitel::Error for any other
    # error. +buffer+ is a first buffer of +capacity+ bytes to reuse.
    def self.read_string(capacity, buffer: nil, &call)
      out = read_buffer(capacity, buffer: buffer, &call)
      return out if out.is_a?(String)

      check(out)
      nil
    end

    # read_string's loop; returns the negative code instead of raising.
    def self.read_buffer(capacity, buffer: nil)
      buf = buffer || FFI::MemoryPointer.new(capacity)
      4.times do
        n = yield(buf, capacity)
        return n if n.negative?
        return buf.read_bytes(n).force_encoding(Encoding::UTF_8) if n < capacity

        capacity = n + 1
        buf = FFI::MemoryPointer.new(capacity)
      end
      E_INTERNAL
    end
    private_class_method :read_buffer

    # The calling thread's last error message ("" when there is none).
    def self.last_error
      out = read_buffer(1024) { |buf, cap| ffitel_last_error(buf, cap) }
      out.is_a?(String) ? out : ""
    end
  end
end

module Ffitel
  module Native
    # The C ABI this binding speaks: FFITEL_ABI_VERSION of
    # cshim/include/ffitel.h (cshim/copies_test.go checks the copy). It
    # changes only with an incompatible change to an existing function.
    ABI_VERSION = 1

    # Raised by Native.load when the library speaks another ABI version.
    class AbiMismatch < StandardError; end

    # Raises AbiMismatch, naming both ABI versions and the path, unless the
    # library just opened with ffi_lib speaks this binding's ABI.
    def self.check_abi(path)
      have =
        begin
          attach_function :ffitel_abi_version, [], :int
          ffitel_abi_version
        rescue FFI::NotFoundError
          nil
        end
      return if have == ABI_VERSION

      version =
        begin
          attach_function :ffitel_version, [], :string
          ffitel_version
        rescue FFI::NotFoundError
          "?"
        end
      have_text = have.nil? ? "none (it does not export ffitel_abi_version)" : have.to_s
      raise AbiMismatch, "#{path} (libffitel #{version}) has C ABI version #{have_text}, but this ffitel gem " \
                         "(#{Ffitel::VERSION}) needs ABI version #{ABI_VERSION}: install the library that came " \
                         "with the gem, or point FFITEL_LIBRARY at a matching libffitel.so"
    end
  end
end
