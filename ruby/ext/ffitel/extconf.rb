# frozen_string_literal: true

# Installing the source gem builds libffitel.so with Go into the gem's
# lib/ffitel/, where Ffitel.library_path looks for it. Without Go on PATH the
# install stops with one message: install the platform gem, or Go.
# RubyGems then runs `make`; the Makefile written here has nothing left to do.

src = File.expand_path("go", __dir__)
out = File.expand_path("../../lib/ffitel/libffitel.so", __dir__)
need = File.read(File.join(src, "go.mod"))[/^go\s+(\S+)/, 1]
need = need ? "Go #{need} or newer" : "Go"

go = ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, "go") }
         .find { |path| File.file?(path) && File.executable?(path) }
unless go
  abort "ffitel: installing the source gem compiles libffitel.so with Go, and `go` is not on PATH. " \
        "Install the prebuilt platform gem instead (gem install ffitel-<version>-x86_64-linux.gem; " \
        "`gem install ffitel` picks it by itself on x86_64 Linux), or install #{need} (https://go.dev/dl/) and retry."
end

exports = File.join(src, "cshim", "exports.map")
cmd = [go, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
       "-ldflags=-s -w -extldflags=-Wl,--version-script=#{exports}", "-o", out, "./cshim"]
puts "ffitel: building libffitel.so: #{cmd.join(" ")}"
unless system({ "CGO_ENABLED" => "1" }, *cmd, chdir: src)
  abort "ffitel: `go build` of libffitel.so failed in #{src} (its output is above)."
end
File.delete(out.sub(/\.so\z/, ".h")) if File.exist?(out.sub(/\.so\z/, ".h"))

File.write("Makefile", "all:\n\ninstall:\n\nclean:\n")
