// Images waiting to be sent with the next message: from a file, a drop, a paste or a URL.
// Files become data: URLs; the server decodes and checks them, so its errors reach the user.

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** An <img> for a picked image; if the browser cannot show it, a labelled box instead. */
export function imagePreview(url, alt, name) {
  const image = document.createElement("img");
  image.src = url;
  image.alt = alt;
  image.title = name;
  image.addEventListener("error", () => {
    const box = document.createElement("div");
    box.className = "unviewable";
    box.textContent = `${name} (cannot be previewed)`;
    box.title = name;
    image.replaceWith(box);
  });
  return image;
}

export class Attachments {
  /** `list` is the <ul> that shows thumbnails; `onChange` runs after every change. */
  constructor(list, onChange) {
    this.list = list;
    this.onChange = onChange;
    this.items = [];
    this.nextId = 1;
  }

  async addFiles(files) {
    for (const file of files) {
      const url = await readAsDataUrl(file);
      this.add({ url, name: file.name || "pasted image" });
    }
  }

  addUrl(text) {
    const url = text.trim();
    if (!/^(https?:|data:)/i.test(url)) {
      throw new Error("An image URL starts with http://, https:// or data:.");
    }
    this.add({ url, name: url.split("/").pop() || url });
  }

  add(item) {
    this.items.push({ ...item, id: this.nextId++ });
    this.render();
  }

  remove(id) {
    this.items = this.items.filter((item) => item.id !== id);
    this.render();
  }

  /** Hands the images over (for sending) and empties the tray. */
  take() {
    const taken = this.items;
    this.items = [];
    this.render();
    return taken;
  }

  /** Puts images back, e.g. after a request failed, so the user can fix and resend. */
  restore(items) {
    this.items = [...items, ...this.items];
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.items.map((item) => this.thumbnail(item)));
    this.onChange();
  }

  thumbnail(item) {
    const entry = document.createElement("li");
    entry.className = "attachment";
    const image = imagePreview(item.url, `Attached image: ${item.name}`, item.name);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${item.name}`);
    remove.addEventListener("click", () => this.remove(item.id));
    entry.append(image, remove);
    return entry;
  }
}

/** The image files of a paste or a drop (a DataTransfer), if any. */
export function imageFiles(transfer, { imagesOnly }) {
  const files = Array.from(transfer?.files || []);
  return imagesOnly ? files.filter((file) => file.type.startsWith("image/")) : files;
}
