fn main() {
    std::process::exit(kubectl_mtls::run());
}
