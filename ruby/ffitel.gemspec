# frozen_string_literal: true

# Builds a complete gem from any directory (`gem build ruby/ffitel.gemspec`);
# every file list is relative to this file's directory.
#
# - With lib/ffitel/libffitel.so present, a platform gem holding the library,
#   its platform read from the library's ELF header (x86_64-linux,
#   aarch64-linux). In a checkout, `gem build` takes ../build/libffitel.so
#   (`make build`).
# - Without it, a source gem: ext/ffitel/extconf.rb builds the library with
#   `go build` when the gem is installed, from the Go sources under
#   ext/ffitel/go (in a checkout `gem build` copies them there from ..).
# What `gem build` copies into the checkout it removes when it exits, so a
# copy never shadows a newer build/libffitel.so for the tests.
# `make dist` builds both kinds from staged copies of this directory.

require "fileutils"
require_relative "lib/ffitel/version"

root = File.expand_path(__dir__) # absolute: `gem build ruby/ffitel.gemspec` gives a relative __dir__
library = File.join(root, "lib/ffitel/libffitel.so")
vendored_go = File.join(root, "ext/ffitel/go")
checkout = File.expand_path("..", root)
go_packages = %w[bootstrap events metrics internal cshim].freeze
building = defined?(Gem::Commands::BuildCommand)

if building && File.file?(File.join(checkout, "cshim/include/ffitel.h"))
  built = File.join(checkout, "build/libffitel.so")
  if File.file?(built) && !File.exist?(library)
    FileUtils.cp(built, library)
    at_exit { FileUtils.rm_f(library) }
  elsif !File.exist?(library) && !File.exist?(vendored_go)
    FileUtils.mkdir_p(vendored_go)
    at_exit { FileUtils.rm_rf(vendored_go) }
    FileUtils.cp(%w[go.mod go.sum].map { |f| File.join(checkout, f) }, vendored_go)
    go_packages.each { |pkg| FileUtils.cp_r(File.join(checkout, pkg), vendored_go) }
  end
end

# The gem platform of the library inside, from its ELF e_machine field.
elf_platform = lambda do |path|
  machine = File.binread(path, 2, 18).unpack1("v")
  cpu = { 0x3E => "x86_64", 0xB7 => "aarch64" }.fetch(machine) do
    raise "ffitel.gemspec: #{path} is for ELF machine #{machine}, which this gemspec does not know"
  end
  Gem::Platform.new("#{cpu}-linux")
end

in_root = ->(pattern) { Dir.glob(pattern, base: root).select { |f| File.file?(File.join(root, f)) }.sort }

gemspec = Gem::Specification.new do |spec|
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
  spec.require_paths = ["lib"]
  spec.add_dependency "ffi", "~> 1.15"

  spec.files = in_root.call("lib/**/*.rb") + in_root.call("README.md") + in_root.call("exe/*")
  spec.bindir = "exe"
  spec.executables = ["ffitel"] # `ffitel doctor`
  if File.file?(library)
    spec.platform = elf_platform.call(library)
    spec.files << "lib/ffitel/libffitel.so"
  else
    spec.platform = Gem::Platform::RUBY
    go_files = in_root.call("ext/ffitel/go/{go.mod,go.sum}") +
               go_packages.flat_map { |pkg| in_root.call("ext/ffitel/go/#{pkg}/**/*.{go,c,h,map}") }
    go_files.reject! { |f| f.end_with?("_test.go") }
    spec.files += ["ext/ffitel/extconf.rb"] + go_files
    spec.extensions = ["ext/ffitel/extconf.rb"]
  end
end

# RubyGems 3.3's `gem build` reads spec.files relative to the working
# directory. Run from elsewhere, build from here and hand the gem back to
# the directory the command was run in.
if building && File.expand_path(Dir.pwd) != File.expand_path(root)
  origin = Dir.pwd
  started = Time.now - 1
  Dir.chdir(root)
  at_exit do
    Dir.glob(File.join(root, "ffitel-#{Ffitel::VERSION}*.gem")).each do |gem|
      FileUtils.mv(gem, origin) if File.mtime(gem) >= started
    end
  end
end

gemspec
