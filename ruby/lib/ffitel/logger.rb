# frozen_string_literal: true

require "logger"

module Ffitel
  # A ::Logger whose records go through ffitel: to the console in phase 1,
  # and to OTLP as well in phase 2. Hand it to anything that takes a Logger:
  #
  #   Rails.logger = Ffitel.logger          # config.logger = Ffitel.logger
  #   Sidekiq.configure_server { |c| c.logger = Ffitel.logger }
  #
  # Everything ::Logger offers works: debug/info/warn/error/fatal/unknown with
  # a message or a block, add/log, progname, level= with an Integer, Symbol
  # or String, debug? and friends, <<, close. The severity methods also take
  # attributes as keywords: logger.info("charged", order_id: 42). Every
  # record goes through #add, so wrappers that forward only add
  # (ActiveSupport::Logger.broadcast) see them all. The library formats
  # records, so a formatter is kept and not called to format; what a
  # framework keeps in it for each record is read instead: the tags of an
  # ActiveSupport::TaggedLogging formatter become the "tags" attribute, the
  # ctx of a Sidekiq formatter (jid, class, bid, elapsed) attributes.
  # Logging never raises: a message whose inspect (or to_s) raises, or a
  # block that raises, logs a placeholder ("<unprintable Foo: RuntimeError>",
  # "<log block raised RuntimeError: boom>") counted in
  # Ffitel.stats["pipeline"]["input_errors"].
  # Creating one loads nothing; the first record does.
  class Logger < ::Logger
    # Note: inside this class DEBUG, INFO... would resolve lexically to
    # Ffitel's severity numbers, so ::Logger's are always spelled out.
    # ::Logger severity -> OpenTelemetry SeverityNumber.
    SEVERITY_NUMBERS = [Ffitel::DEBUG, Ffitel::INFO, Ffitel::WARN, Ffitel::ERROR, Ffitel::FATAL, Ffitel::FATAL].freeze
    # The keyword attributes of the severity call in progress, read by #add
    # (fiber-local): add's signature has no room for them, and everything
    # goes through add so that wrappers that forward only add
    # (ActiveSupport::Logger.broadcast in Rails <= 7.0) see every record.
    EXTRA_KEY = :__ffitel_logger_extra

    # Sidekiq.logger= extends the logger with Sidekiq::LoggingUtils, whose
    # add writes formatted text to a log device (this logger has none, so it
    # would drop everything). Extended right after it, this puts ffitel's
    # add back, below any wrapper extended later (broadcast).
    module RecordingAdd
      def add(severity, message = nil, progname = nil, &block)
        record(severity, message, progname, &block)
      end
    end

    # Fields bound with #with_fields (no block): sent with every record.
    attr_reader :fields

    def initialize(progname: nil, level: ::Logger::DEBUG, formatter: nil, fields: nil)
      super(nil, progname: progname, level: level, formatter: formatter)
      @fields = fields&.freeze
      @local_level_key = :"__ffitel_logger_level_#{object_id}"
    end

    # The effective level: a #silence / #with_level / local_level= override
    # in the current fiber, else the level set with level=.
    def level
      Thread.current[@local_level_key] || @level
    end

    # ActiveSupport's LoggerThreadSafeLevel interface (Rails' silence and
    # broadcast call it): the current fiber's level override, or nil.
    def local_level
      Thread.current[@local_level_key]
    end

    def local_level=(severity)
      Thread.current[@local_level_key] = severity.nil? ? nil : level_number(severity)
    end

    # The one path of every record: the severity methods, <<, and wrappers
    # (broadcast, Sidekiq) all arrive here.
    def add(severity, message = nil, progname = nil, &block)
      record(severity, message, progname, &block)
    end
    alias log add

    def extend(*modules)
      super
      super(RecordingAdd) if defined?(::Sidekiq::LoggingUtils) && modules.include?(::Sidekiq::LoggingUtils)
      self
    end

    # Beyond ::Logger: attributes as keywords, logger.info("charged", order_id: 42).
    %w[debug info warn error fatal unknown].each_with_index do |name, severity|
      class_eval <<~RUBY, __FILE__, __LINE__ + 1
        def #{name}(progname = nil, **attrs, &block)
          return add(#{severity}, nil, progname, &block) if attrs.empty?
          # info(key: v) alone logs the Hash, as ::Logger does.
          return add(#{severity}, nil, attrs, &block) if progname.nil? && !block

          t = Thread.current
          outer = t[EXTRA_KEY]
          t[EXTRA_KEY] = attrs
          begin
            add(#{severity}, nil, progname, &block)
          ensure
            t[EXTRA_KEY] = outer
          end
        end
      RUBY
    end

    private def record(severity, message, progname)
      severity ||= ::Logger::UNKNOWN
      return true if severity < level

      extra = Thread.current[EXTRA_KEY]
      progname ||= @progname
      if message.nil?
        if block_given?
          message = begin
            yield
          rescue StandardError => e
            Attributes.count_input_error
            "<log block raised #{e.class}: #{Attributes.text(e.message)}>"
          end
        else
          message = progname
          progname = @progname
        end
      end
      number = SEVERITY_NUMBERS[severity] || Ffitel::FATAL
      attrs = @fields ? @fields.dup : {}
      formatter_context(attrs) if @formatter
      attrs.merge!(extra) if extra
      attrs[:progname] = Attributes.text(progname) if progname
      case message
      when String
        Logging.emit(number, message, attrs)
      when Exception
        attrs[:"exception.type"] = message.class.name
        attrs[:"exception.message"] = Attributes.text(message.message)
        attrs[:"exception.stacktrace"] = message.backtrace.join("\n") if message.backtrace
        Logging.emit(number, "#{attrs[:"exception.message"]} (#{message.class})", attrs)
      else
        Logging.emit(number, inspect_message(message), attrs)
      end
      true
    rescue StandardError
      true # logging never raises into the host
    end

    # What a framework keeps in its formatter for each record:
    # ActiveSupport::TaggedLogging's current_tags become the "tags"
    # attribute; a Sidekiq formatter's ctx (jid, class, bid, elapsed, tags)
    # become attributes.
    private def formatter_context(attrs)
      f = @formatter
      if f.respond_to?(:ctx)
        ctx = f.ctx
        ctx.each { |k, v| attrs[k] = v unless v.nil? } if ctx.is_a?(Hash)
      end
      if f.respond_to?(:current_tags)
        tags = f.current_tags
        attrs[:tags] = tags.map { |t| Attributes.text(t) } unless tags.empty?
      end
    end

    # A message that is not a String or an Exception, as ::Logger writes it
    # (inspect); a placeholder (counted) when inspect raises.
    private def inspect_message(message)
      text = message.inspect
      text.is_a?(String) ? text : raise(TypeError, "inspect returned #{text.class}")
    rescue StandardError => e
      Attributes.count_input_error
      Attributes.placeholder(message, e)
    end

    # debug? info? warn? error? fatal?: this logger's level and LOG_LEVEL.
    %w[debug info warn error fatal].each_with_index do |name, severity|
      define_method(:"#{name}?") { level <= severity && Ffitel.enabled?(SEVERITY_NUMBERS[severity]) }
    end

    # Logs msg as-is at ::Logger::INFO (the library adds the timestamp and level).
    def <<(msg)
      record(::Logger::INFO, Attributes.text(msg).chomp, nil) # not add: wrappers forward << themselves
      self
    end

    def close; end

    def reopen(_logdev = nil)
      self
    end

    # Runs the block with the level raised to +temporary_level+ in the current
    # fiber only (ActiveSupport's LoggerSilence interface).
    def silence(temporary_level = ::Logger::ERROR)
      with_level(temporary_level) { yield self }
    end

    # Runs the block with +severity+ as the level in the current fiber only.
    def with_level(severity)
      key = @local_level_key
      previous = Thread.current[key]
      Thread.current[key] = level_number(severity)
      yield self
    ensure
      Thread.current[key] = previous
    end

    # With a block: Ffitel.with_fields for the block. Without: a logger that
    # adds +attrs+ to each of its records (like slog's With).
    def with_fields(**attrs, &block)
      return Ffitel.with_fields(**attrs, &block) if block

      child = self.class.new(progname: @progname, level: @level, formatter: @formatter,
                             fields: (@fields || {}).merge(attrs))
      child
    end

    # ActiveSupport::TaggedLogging-style tags, kept in the "tags" attribute.
    # With a block: for the block (fiber-local); without: a tagged logger.
    def tagged(*tags, &block)
      tags = tags.flatten.compact.map(&:to_s)
      if block
        current = Array(Ffitel.current_fields[:tags])
        return Ffitel.with_fields(tags: current + tags) { block.call(self) }
      end
      with_fields(tags: Array(@fields && @fields[:tags]) + tags)
    end

    private

    def level_number(severity)
      return severity if severity.is_a?(Integer)

      case severity.to_s.downcase
      when "debug" then ::Logger::DEBUG
      when "info" then ::Logger::INFO
      when "warn" then ::Logger::WARN
      when "error" then ::Logger::ERROR
      when "fatal" then ::Logger::FATAL
      when "unknown" then ::Logger::UNKNOWN
      else raise ArgumentError, "invalid log level: #{severity}"
      end
    end
  end
end
