# frozen_string_literal: true

module Ffitel
  # Internal: the library in this process. Finds and loads libffitel.so once
  # (lazily, on first use), installs the fork and trap hooks and the at_exit
  # shutdown, tracks the state (:unloaded, :loaded, :forked in a child of a
  # loaded parent, :unavailable) and the enabled log levels, and runs the
  # lifecycle calls (init, flush, shutdown, phase). The rest of the gem asks
  # it through these methods; nothing else touches its state.
  module Runtime
    # Marks the library unusable in a forked child as soon as the fork
    # happens (Ruby >= 3.1 routes every fork through Process._fork), unless
    # the spool lets the child keep using it (Runtime.spool_child?). The C
    # side guards each call too; this only makes the switch earlier and
    # cheaper.
    module ForkHook
      def _fork
        pid = super
        Runtime.after_fork_in_child if pid.zero?
        pid
      end
    end

    # Re-applies SA_ONSTACK after every trap (Ruby reinstalls its handler
    # without it); see Native.handler_on_altstack. Installed when the library
    # loads.
    module TrapHook
      def trap(signal, *args, &block)
        previous = super
        Runtime.handler_on_altstack(signal)
        previous
      end
    end

    # Kernel#trap is private; so is its hook.
    module KernelTrapHook
      include TrapHook
      private :trap
    end

    @mutex = Mutex.new
    @state = :unloaded
    @levels = nil     # severity number -> true/false, from ffitel_log_enabled
    @native_log = nil # Ffitel::NativeLog when the library defined it
    @load_error = nil
    @loaded_pid = nil
    @spool_child = false # a forked child writing through the spool

    class << self
      # Why the library is unavailable (a String), or nil.
      attr_reader :load_error

      # The fast log path (Ffitel::NativeLog, a C method the library defines
      # with Ruby's own C API: no ffi conversion, no JSON), or nil.
      attr_reader :native_log

      def loaded?
        @state == :loaded
      end

      # +text+ as a String no other thread can change: the calls attached
      # blocking (native.rb) read it with the GVL released, and ruby-ffi
      # passes a String's own buffer. A frozen String is itself; any other a
      # copy (dup shares the buffer until one side writes). nil stays nil.
      def owned(text)
        text.nil? || text.frozen? ? text : text.dup
      end

      def forked?
        @state == :forked
      end

      # A child forked after loading that keeps using the library through
      # the spool (FFITEL_SPOOL_DIR, docs/SPOOL.md): logs, spans and tasks are
      # written to its own segment in C; calls that need Go (metrics, stats,
      # events, flush) answer FFITEL_E_FORKED, a no-op for that call only.
      def spool_child?
        @spool_child
      end

      # In a child just forked: the spool if the library can write it here,
      # else the fallback (forked!).
      def after_fork_in_child
        return unless @state == :loaded

        if Native.ffitel_spool_enabled == 1
          @spool_child = true
          @loaded_pid = Process.pid
        else
          @spool_child = false
          forked!
        end
      end

      # The spool child could not write a record: the fallback from now on.
      def spool_lost!
        @spool_child = false
        forked!
      end

      # The enabled-levels table (index: severity number) while the library
      # is loaded, else nil (kept so: set only when loaded, cleared by
      # forked!). The log hot path's one check, an attr_reader for speed.
      attr_reader :levels

      # Loads the library unless it is loaded or known to be unusable.
      # Whether it is usable. Raises Ffitel::Error when it cannot load.
      def usable?
        return true if @state == :loaded

        load! if @state == :unloaded
        @state == :loaded
      end

      # usable? that answers false instead of raising when the library
      # cannot load.
      def available?
        usable?
      rescue Error
        false
      end

      # See Ffitel.library_path.
      def library_path
        env = ENV["FFITEL_LIBRARY"]
        return env if env && !env.empty?

        [File.expand_path("libffitel.so", __dir__),
         File.expand_path("../../../build/libffitel.so", __dir__)].find { |p| File.exist?(p) }
      end

      # Loads the shared library once per process. Raises Ffitel::Error when
      # it cannot be found or loaded.
      def load!
        return true if @state == :loaded
        return false if @state == :forked

        @mutex.synchronize do
          return true if @state == :loaded

          path = library_path
          unavailable!("libffitel.so not found: set FFITEL_LIBRARY, install the gem with the library, or run `make build`") unless path
          begin
            Native.with_signals_blocked(HOST_SIGNALS) do
              Native.load(path)
              Native.ffitel_phase # waits for the Go runtime to finish starting
            end
          rescue Native::AbiMismatch => e
            unavailable!(e.message)
          rescue LoadError, StandardError => e
            unavailable!("cannot load #{path}: #{e.message}")
          end
          @state = :loaded
          @loaded_pid = Process.pid
          @native_log = Native.ffitel_rb_define == Native::OK ? NativeLog : nil
          refresh_levels
          install_hooks
        end
        true
      end

      # ffitel_init_console / ffitel_init_telemetry: loads the library first.
      # True; false in a forked child (after one warning on $stderr).
      def lifecycle(function)
        load!
        return forked_lifecycle if @state == :forked

        rc = Native.public_send(function)
        return forked_lifecycle if rc == Native::E_FORKED

        Native.check(rc)
        refresh_levels
        true
      end

      # ffitel_shutdown or ffitel_flush with +timeout+ seconds (nil: the
      # library's default); false when the deadline cut it short. True when
      # the library is not loaded.
      def bounded(function, timeout)
        return true unless @state == :loaded

        ms = timeout.nil? ? -1 : (timeout * 1000).round.clamp(0, 2**31 - 1)
        rc = Native.public_send(function, ms)
        case rc
        when Native::OK then true
        when Native::E_STATE then false
        when Native::E_FORKED then forked! || true
        else raise Native.error(rc)
        end
      end

      # See Ffitel.phase.
      def phase
        case @state
        when :loaded
          rc = Native.ffitel_phase
          return PHASES.fetch(rc, :none) if rc >= 0

          forked!
          :forked
        when :forked then :forked
        else :none
        end
      end

      def library_version
        @state == :loaded ? Native.ffitel_version : nil
      end

      # Marks the library unusable in this (forked) process (in a spool
      # child, only the call that said so was unavailable). Returns true.
      def forked!
        if @state == :loaded && !@spool_child
          @state = :forked
          @levels = nil
        end
        true
      end

      # Whether this is a child forked after loading (that bypassed the fork
      # hook); marks it so.
      def forked_now?
        return false unless @state == :loaded
        return false if Process.pid == @loaded_pid

        after_fork_in_child
        !@spool_child
      end

      # The one warning the fallback logger writes before logging: why the
      # library is not used.
      def unavailable_reason
        return forked_warning if @state == :forked

        "ffitel: #{@load_error}; logging to $stderr"
      end

      def forked_warning
        "ffitel: process #{Process.pid} was forked after libffitel was loaded (a Go runtime does not " \
          "survive fork); logging to $stderr with Ruby's Logger, spans and metrics are no-ops. " \
          "Load ffitel after forking (e.g. call Ffitel.init_telemetry in the worker boot hook)."
      end

      # Adds SA_ONSTACK to Ruby's handler for +signal+ (a name or number).
      def handler_on_altstack(signal)
        signo = signal.is_a?(Integer) ? signal : Signal.list[signal.to_s.delete_prefix("SIG")]
        Native.handler_on_altstack(signo) if signo
      rescue StandardError
        nil
      end

      private

      def unavailable!(message)
        @state = :unavailable
        @load_error = message
        raise Error, message
      end

      def install_hooks
        Process.singleton_class.prepend(ForkHook) if Process.respond_to?(:_fork)
        HOST_SIGNALS.each { |name| handler_on_altstack(name) }
        Signal.singleton_class.prepend(TrapHook)
        Kernel.prepend(KernelTrapHook)
        at_exit { shutdown_at_exit }
      end

      def shutdown_at_exit
        bounded(:ffitel_shutdown, nil) if @state == :loaded && Process.pid == @loaded_pid
      rescue StandardError, Interrupt
        nil
      end

      def refresh_levels
        @levels = Array.new(25) { |s| s.positive? && Native.ffitel_log_enabled(s) == 1 }.freeze
      end

      def forked_lifecycle
        forked!
        return false if @spool_child

        Fallback.emit(WARN, "ffitel is unavailable in this forked child", {}, forked_warning)
        false
      end
    end
  end
end
