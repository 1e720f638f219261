import CairnIO

/// Finds the image to publish in mkosi's output directory, in the seed's order:
/// `<name>.ero`, then `image.ero`, then the only `*.ero` there is.
public enum ImageLocator {
    public static func find(in directory: String, name: String) throws -> String {
        for candidate in [name.isEmpty ? nil : name + ".ero", "image.ero"].compactMap({ $0 }) {
            if try FileSystem.status(directory + "/" + candidate, followingLinks: true)?.isRegular == true {
                return directory + "/" + candidate
            }
        }
        let images = (try? FileSystem.contents(of: directory))?.filter { $0.hasSuffix(".ero") }.sorted() ?? []
        switch images.count {
        case 1: return directory + "/" + images[0]
        case 0:
            throw ReleaseError.invalidInput("no image to publish: give --image or COMPOSE_EROFS_IMAGE, or put one .ero file in \(directory)")
        default:
            throw ReleaseError.invalidInput("several images in \(directory) (\(images.joined(separator: ", "))): choose one with --image or COMPOSE_EROFS_IMAGE")
        }
    }
}
