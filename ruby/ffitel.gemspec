# frozen_string_literal: true

require_relative "lib/ffitel/version"

# The gem ships libffitel.so when it is built next to a build tree: building
# the gem (`gem build ffitel.gemspec`) copies ../build/libffitel.so into
# lib/ffitel/ first. Without it the gem finds the library through
# FFITEL_LIBRARY or the build tree at run time.
built = File.expand_path("../build/libffitel.so", __dir__)
shipped = File.expand_path("lib/ffitel/libffitel.so", __dir__)
if File.exist?(built) && (!File.exist?(shipped) || File.mtime(built) > File.mtime(shipped))
  require "fileutils"
  FileUtils.cp(built, shipped)
end

Gem::Specification.new do |spec|
  spec.name = "ffitel"
  spec.version = Ffitel::VERSION
  spec.summary = "Two-phase telemetry bootstrap for Ruby workers: console logging first, OpenTelemetry export after"
  spec.description = <<~DESC
    ffitel gives a Ruby worker structured logging from its first line (phase 1,
    console only) and upgrades the same logger in place to OpenTelemetry logs,
    traces and metrics (phase 2), configured from environment variables. It
    wraps libffitel.so through the ffi gem; a ::Logger-compatible logger,
    block-scoped spans and fields, counters and histograms. Fork- and trap-safe.
  DESC
  spec.authors = ["ffitel authors"]
  spec.license = "Apache-2.0"
  spec.homepage = "https://github.com/ffitel/ffitel"
  spec.required_ruby_version = ">= 3.1"
  # With the native library inside, the gem is for this platform only.
  spec.platform = File.exist?(shipped) ? Gem::Platform.local : Gem::Platform::RUBY

  spec.files = Dir["lib/**/*.rb"] + Dir["lib/ffitel/libffitel.so"] + ["README.md"].select { |f| File.exist?(File.join(__dir__, f)) }
  spec.require_paths = ["lib"]

  spec.add_dependency "ffi", "~> 1.15"
end
